"""How good an accompaniment sounds, measured the same way for every accompanist (numpy; music21 only to read
chorales).

A `Tune` is a melody on a 16th-step grid whose step 0 is a downbeat; an accompanist turns a tune into
`Parts` on the same grid; `measures.measure` counts what a listener hears (clashes with the tune, notes
out of key, how much the parts move); `study` runs accompanists over a tune set and writes the table
(`python3 -m sideman.models.quality --set folk-test`); `coldstart` measures how fast an accompanist's
clash settles after starting mid-tune and after a tritone jump.
"""
