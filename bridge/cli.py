"""`sideman` command line: thin wiring of library functions.

User errors (SidemanError) become one line on stderr and exit code 2, never a traceback.
Commands that need the training extras (torch, music21) are imported only when invoked, so
`sideman --help` and `sideman run` start fast and work with the runtime dependencies alone.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from typing import Callable, Mapping, Sequence

from sideman.bridge import __version__
from sideman.bridge.config import API_CHOICES, CLOCK_CHOICES, CONFIG_FLAG_HELP, Config, key_sources, load_config
from sideman.bridge.errors import ConfigError, MissingDependencyError, SidemanError

log = logging.getLogger("sideman")

# Commands implemented in other modules: name -> (module, arguments function, command function, help).
# The module is imported only when its command runs.
LAZY_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "accompany": ("sideman.bridge.offline.commands", "add_accompany_arguments", "cmd_accompany", "accompany a melody from a MIDI file, offline"),
    "demo": ("sideman.bridge.offline.commands", "add_demo_arguments", "cmd_demo", "accompany the shipped demo melody; writes MIDI, a PNG and a WAV"),
    "prompt": ("sideman.bridge.prompt.command", "add_prompt_arguments", "cmd_prompt", "show the settings a line of English asks for (\"slow sad waltz in D minor\")"),
    "listen": ("sideman.bridge.offline.listen", "add_listen_arguments", "cmd_listen", "print the key and chords Sideman hears in a tune, bar by bar"),
    "recover": ("sideman.bridge.recording.recorder", "add_recover_arguments", "cmd_recover", "turn a leftover session journal into a MIDI file"),
    "data": ("sideman.models.data", "add_data_arguments", "cmd_data", "build the chorale dataset cache (needs the train extras)"),
    "train": ("sideman.models.train", "add_train_arguments", "cmd_train", "train a model (needs the train extras)"),
    "evaluate": ("sideman.models.evaluate", "add_evaluate_arguments", "cmd_evaluate", "evaluate a checkpoint on held-out chorales (train extras)"),
    "export": ("sideman.export.onnx_export", "add_export_arguments", "cmd_export", "export a checkpoint to ONNX with parity checks (train extras)"),
    "train-listener": ("sideman.models.listen.train", "add_train_listener_arguments", "cmd_train_listener", "train the key and chord recogniser (train extras)"),
    "evaluate-listener": ("sideman.models.listen.evaluate", "add_evaluate_listener_arguments", "cmd_evaluate_listener", "the recogniser against music21's key finders and a chord template matcher (train extras)"),
    "export-listener": ("sideman.export.listen_export", "add_export_listener_arguments", "cmd_export_listener", "export the recogniser to ONNX with a parity check (train extras)"),
    "train-melody": ("sideman.models.melody.train", "add_train_melody_arguments", "cmd_train_melody", "train the call-and-response melody model (train extras)"),
    "export-melody": ("sideman.export.melody_export", "add_export_melody_arguments", "cmd_export_melody", "export the melody model to ONNX with a parity check (train extras)"),
}
# What the training commands import from the `train` extra; missing, any command needing one says how to install them.
TRAIN_EXTRAS = ("torch", "music21", "onnx", "onnxscript", "tqdm")
TRAIN_EXTRAS_HINT = "pip install 'sideman[train]'"


def _add_port_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", choices=API_CHOICES, help="MIDI API (default from config: auto)")


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    _add_port_arguments(p)
    p.add_argument("--config", metavar="PATH", help=CONFIG_FLAG_HELP)
    p.add_argument("--in", dest="connect_input", metavar="NAME", help="connect to an existing input port whose name contains NAME (loopMIDI, IAC, a keyboard) instead of creating 'Sideman In'")
    p.add_argument("--out", dest="connect_output", metavar="NAME", help="connect to an existing output port whose name contains NAME instead of creating 'Sideman Out'")
    p.add_argument("--thru", action=argparse.BooleanOptionalAction, default=None, help="also pass the notes you play through to the output (for setups without a DAW)")
    p.add_argument("--model", action="append", metavar="PATH", help="ONNX model file (default: the shipped chorale model); repeat to load several and switch with Program Change 1, 2, ...")
    p.add_argument("--clock", choices=CLOCK_CHOICES, help="follow the DAW's MIDI clock (midi), run Sideman's own at --tempo "
                   "(internal), follow your playing (follow), or auto (default: the DAW's clock when it comes, else follow)")
    p.add_argument("--tempo", type=float, metavar="BPM", help="tempo of the internal clock; the tempo the follower expects")
    p.add_argument("--metronome", action=argparse.BooleanOptionalAction, default=None, help="click on the beats of Sideman's own clock")
    p.add_argument("--count-in", action=argparse.BooleanOptionalAction, default=None,
                   help="internal clock: one bar of clicks before the parts; follow: start only from four taps")
    p.add_argument("--key", help="keep to this key (\"D\", \"e minor\", \"F# minor\") instead of the one Sideman hears")
    p.add_argument("--mode", choices=("accompany", "answer"), help="accompany your playing, or answer your phrases when you pause (default from config: accompany)")
    p.add_argument("--no-engine", action="store_true", help="no accompaniment: a plain thru bridge")
    p.add_argument("--style", choices=("chorale", "band"), help="four-part chorale, or a band's bass and comping ([band]; Program Change 2.. then picks the models)")
    p.add_argument("--no-record", action="store_true", help="do not record this session")
    p.add_argument("--quiet", action="store_true", help="no status line (for running as a background service)")
    p.add_argument("--log-file", metavar="PATH", help="write log lines to this file instead of stderr")
    p.add_argument("--learn", action="store_true", help="start by learning the controls: move each control when asked "
                   "(Enter skips one, q ends); the CC map is saved to your config file (typing l and Enter while it "
                   "runs does the same)")
    p.add_argument("--prompt", metavar="TEXT", help="start with the settings these words ask for, e.g. \"slow, only bass\" "
                   "(docs/prompts.md); flags given win; while it plays, type a line such as \"busier\" and Enter")


def config_from_args(args: argparse.Namespace) -> Config:
    """Defaults, then the user's own file, then the --config file, then flags — each layer validated."""
    def flag(name: str):
        return getattr(args, name, None)  # each command has its own flags

    models = flag("model")
    return load_config(flag("config")).with_flags(
        ports={k: flag(k) for k in ("api", "connect_input", "connect_output")},
        bridge={"thru": flag("thru"), "clock": flag("clock"), "tempo": flag("tempo"), "model": models[0] if models else None,
                "metronome": flag("metronome"), "count_in": flag("count_in")},
        engine={"key": flag("key"), "mode": flag("mode"), "style": flag("style")},
        recording={"enabled": False if flag("no_record") else None},
        status={"quiet": flag("quiet") or None, "log_file": flag("log_file") or None},
    )


def flags_given(args: argparse.Namespace) -> tuple[str, ...]:
    """The prompt settings `run`'s flags set (they win over a prompt's)."""
    return tuple(slot for slot in ("tempo", "key", "style") if getattr(args, slot) is not None)


def run_prompt(config: Config, text: str, styles: Mapping[str, Sequence[str]], given: tuple[str, ...] = ()) -> Config:
    """`config` with the settings `text` asks for (flags in `given` win); prints what was and was not applied.
    `styles`: each style's part names (bridge.engines.style_parts)."""
    from sideman.bridge.prompt.apply import apply_prompt, current_settings
    from sideman.bridge.prompt.parse import parse_prompt

    config, lines = apply_prompt(config, parse_prompt(text, current_settings(config, styles)), styles, given=given)
    for line in lines:
        print(line, flush=True)
    return config


def cmd_ports(args: argparse.Namespace) -> int:
    from sideman.bridge.live.port_names import is_sideman_port
    from sideman.bridge.live.ports import list_ports, resolve_api

    config = config_from_args(args)
    listing = list_ports(resolve_api(config.ports.api))
    p = config.ports
    mark = "   (Sideman's own: connected to Sideman, it would hear itself)"
    print(f"MIDI API: {listing.api}")
    for title, names in (("Inputs (Sideman can listen to):", listing.inputs), ("Outputs (Sideman can play into):", listing.outputs)):
        print(title)
        for name in names or ["(none)"]:
            print(f"  {name}{mark if is_sideman_port(name, p.client_name, (p.input_name, p.output_name)) else ''}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from sideman.bridge.engines import build_engines, model_paths, style_of, style_parts
    from sideman.bridge.live.learn import sources_text
    from sideman.bridge.live.session import session
    from sideman.bridge.live.terminal import stdin_is_terminal

    started = time.perf_counter()
    config = config_from_args(args)
    if config.status.log_file:
        _log_to_file(config.status.log_file)
    # Everything that can fail on the user's input fails here, before a port opens (but the recording
    # directory, checked once the ports are open: see sideman.bridge.live.session).
    paths = [] if args.no_engine else model_paths(config, args.model)
    engines = build_engines(config, paths)
    if args.prompt and engines:
        chorale = next(e.contract.part_names for e in engines if style_of(e) == "chorale")
        config = run_prompt(config, args.prompt, style_parts(chorale), given=flags_given(args))
        engines = build_engines(config, paths)
    controls_from = sources_text(key_sources("controls", args.config))
    keys = args.learn or stdin_is_terminal()  # answers to the learner come from stdin, a terminal or not
    with session(config, engines, paths, started=started) as live:
        print(live.banner(__version__, controls_from, keys), flush=True)
        live.run(learn=args.learn, keys=keys)
    print(live.farewell(), flush=True)
    live.raise_if_lost()
    return 0


def _log_to_file(path: str) -> None:
    try:
        handler = logging.FileHandler(path)
    except OSError as exc:
        raise ConfigError(f"[status] log_file = {path!r}: cannot write there ({exc.strerror or exc})") from None
    handler.setFormatter(logging.Formatter("%(asctime)s sideman: %(message)s"))
    logging.getLogger("sideman").addHandler(handler)
    logging.getLogger("sideman").propagate = False


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    parser = argparse.ArgumentParser(prog="sideman", description="Sideman: a real-time AI accompanist between your MIDI keyboard and your DAW.")
    parser.add_argument("--version", action="version", version=f"sideman {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, Callable[[argparse.Namespace], int]] = {}

    p = sub.add_parser("ports", help="list MIDI input and output ports")
    _add_port_arguments(p)
    p.add_argument("--config", metavar="PATH", help=CONFIG_FLAG_HELP + " (Sideman's own port names are marked)")
    commands["ports"] = cmd_ports
    p = sub.add_parser("run", help="start the live bridge")
    _add_run_arguments(p)
    commands["run"] = cmd_run

    wanted = argv[0] if argv else None
    for name, (module, add_args, cmd, help_text) in LAZY_COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == wanted:
            mod = _import_command_module(module, name)
            getattr(mod, add_args)(p)
            commands[name] = _hint_extras(name, getattr(mod, cmd))

    return parser, commands


def _missing_extra(exc: ModuleNotFoundError, command: str) -> SidemanError | None:
    package = (exc.name or "").split(".")[0]
    if package not in TRAIN_EXTRAS:
        return None
    return MissingDependencyError(f"`sideman {command}` needs {package}, one of the training extras: {TRAIN_EXTRAS_HINT}")


def _import_command_module(module: str, command: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        error = _missing_extra(exc, command)
        if error is not None:
            raise error from None
        raise


def _hint_extras(command: str, run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`run`, with a training extra it imports only when it needs it turned into the one-line install hint."""
    def hinted(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ModuleNotFoundError as exc:
            error = _missing_extra(exc, command)
            if error is None:
                raise
            raise error from None
    return hinted


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, commands = build_parser(argv)
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="sideman: %(message)s", stream=sys.stderr)
        if args.command is None:
            parser.print_help()
            return 0
        return int(commands[args.command](args) or 0)
    except SidemanError as exc:
        print(f"sideman: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`sideman listen x.mid | head`): nothing more to say
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
