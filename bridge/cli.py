"""`sideman` command line: thin wiring of library functions.

User errors (SidemanError) become one line on stderr and exit code 2, never a traceback.
Commands that need the training extras (torch, music21) are imported only when invoked, so
`sideman --help` and `sideman run` start fast and work with the runtime dependencies alone.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import time
from typing import Callable, Sequence

from sideman.bridge import __version__
from sideman.bridge.config import API_CHOICES, Config, load_config
from sideman.bridge.errors import SidemanError

log = logging.getLogger("sideman")

# Commands implemented in other modules: name -> (module, arguments function, command function, help).
# The module is imported only when its command runs.
LAZY_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "accompany": ("sideman.bridge.offline.render", "add_accompany_arguments", "cmd_accompany", "accompany a melody from a MIDI file, offline"),
    "demo": ("sideman.bridge.offline.render", "add_demo_arguments", "cmd_demo", "accompany the shipped demo melody; writes MIDI and a PNG"),
    "recover": ("sideman.bridge.recording.recorder", "add_recover_arguments", "cmd_recover", "turn a leftover session journal into a MIDI file"),
    "data": ("sideman.models.data", "add_data_arguments", "cmd_data", "build the chorale dataset cache (needs the train extras)"),
    "train": ("sideman.models.train", "add_train_arguments", "cmd_train", "train a model (needs the train extras)"),
    "evaluate": ("sideman.models.evaluate", "add_evaluate_arguments", "cmd_evaluate", "evaluate a checkpoint on held-out chorales (train extras)"),
    "export": ("sideman.export.onnx_export", "add_export_arguments", "cmd_export", "export a checkpoint to ONNX with parity checks (train extras)"),
    "listen": ("sideman.bridge.offline.listen", "add_listen_arguments", "cmd_listen", "print, bar by bar, the key and chords the bridge would hear in a MIDI file"),
    "train-listener": ("sideman.models.listen.train", "add_train_listener_arguments", "cmd_train_listener", "train the key and chord recogniser (train extras)"),
    "evaluate-listener": ("sideman.models.listen.evaluate", "add_evaluate_listener_arguments", "cmd_evaluate_listener", "the recogniser against music21's key finders and a chord template matcher (train extras)"),
    "export-listener": ("sideman.export.listen_export", "add_export_listener_arguments", "cmd_export_listener", "export the recogniser to ONNX with a parity check (train extras)"),
}
TRAIN_EXTRAS_HINT = "install the training extras first: pip install torch==2.13.0 && pip install -e '.[train]'"


def _add_port_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", choices=API_CHOICES, help="MIDI API (default from config: auto)")


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    _add_port_arguments(p)
    p.add_argument("--config", metavar="PATH", help="a TOML file overriding config.toml defaults")
    p.add_argument("--in", dest="connect_input", metavar="NAME", help="connect to an existing input port whose name contains NAME (loopMIDI, IAC, a keyboard) instead of creating 'Sideman In'")
    p.add_argument("--out", dest="connect_output", metavar="NAME", help="connect to an existing output port whose name contains NAME instead of creating 'Sideman Out'")
    p.add_argument("--thru", action=argparse.BooleanOptionalAction, default=None, help="also pass the notes you play through to the output (for setups without a DAW)")
    p.add_argument("--model", action="append", metavar="PATH", help="ONNX model file (default: the shipped chorale model); repeat to load several and switch with Program Change 1, 2, ...")
    p.add_argument("--clock", choices=("auto", "midi", "internal"), help="follow the DAW's MIDI clock, use Sideman's own, or auto (default)")
    p.add_argument("--tempo", type=float, metavar="BPM", help="tempo of the internal clock")
    p.add_argument("--no-engine", action="store_true", help="no accompaniment: a plain thru bridge")
    p.add_argument("--no-record", action="store_true", help="do not record this session")
    p.add_argument("--quiet", action="store_true", help="no status line (for running as a background service)")
    p.add_argument("--log-file", metavar="PATH", help="write log lines to this file instead of stderr")


def config_from_args(args: argparse.Namespace) -> Config:
    """Defaults, then the user's file, then flags — each layer validated."""
    config = load_config(getattr(args, "config", None))
    ports = {k: v for k in ("api", "connect_input", "connect_output") if (v := getattr(args, k, None)) is not None}
    if ports:
        config = config.replace("ports", **ports)
    bridge = {k: v for k in ("thru", "clock", "tempo") if (v := getattr(args, k, None)) is not None}
    if getattr(args, "model", None):
        bridge["model"] = args.model[0]
    if bridge:
        config = config.replace("bridge", **bridge)
    if getattr(args, "no_record", False):
        config = config.replace("recording", enabled=False)
    status = {k: v for k in ("quiet", "log_file") if (v := getattr(args, k, None))}
    if status:
        config = config.replace("status", **status)
    return config


def cmd_ports(args: argparse.Namespace) -> int:
    from sideman.bridge.live.ports import list_ports, resolve_api

    config = config_from_args(args)
    listing = list_ports(resolve_api(config.ports.api))
    print(f"MIDI API: {listing.api}")
    print("Inputs (Sideman can listen to):")
    for name in listing.inputs or ["(none)"]:
        print(f"  {name}")
    print("Outputs (Sideman can play into):")
    for name in listing.outputs or ["(none)"]:
        print(f"  {name}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from sideman.bridge.errors import PortError
    from sideman.bridge.live.inbox import Inbox
    from sideman.bridge.live.loop import LiveBridge
    from sideman.bridge.live.ports import API_IDS, API_NAMES, RtMidiOutput, open_input, resolve_api
    from sideman.bridge.live.session import build_engines, model_paths, open_jack_watch, open_recorder

    started = time.perf_counter()
    config = config_from_args(args)
    if config.status.log_file:
        _log_to_file(config.status.log_file)
    # Everything that can fail on the user's input fails here, before a port opens (but the recording
    # directory, checked once the ports are open: see below).
    paths = [] if args.no_engine else model_paths(config, args.model)
    engines = build_engines(config, paths)
    api = resolve_api(config.ports.api)
    p = config.ports
    inbox = Inbox(config.bridge.queue_capacity)
    bridge = LiveBridge(config, inbox, RtMidiOutput(api, p.client_name, p.output_name, p.connect_output), engines)
    status = None
    watch = None
    jack_realtime: bool | None = None
    stop_signals = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())
    try:
        bridge.input = open_input(api, p.client_name, p.input_name, inbox, p.connect_input,
                                  on_lost=lambda reason: bridge.request_stop())
        # The recording opens only once both ports are open: a port error must leave neither an
        # empty session file nor a stray journal behind (nothing has been recorded yet).
        bridge.recorder = recorder = open_recorder(config, engines, paths)
        if api == API_IDS["jack"]:
            # rtmidi reports nothing when the JACK server stops; without this the bridge would run on, deaf and mute.
            watch = open_jack_watch(bridge, p.client_name)
        for sig in stop_signals:
            signal.signal(sig, lambda signum, frame: bridge.request_stop())
        from sideman.bridge.live.realtime import ordinary_under_jack

        jack_realtime = None if watch is None else watch.server_realtime
        bridge.start(ordinary_because=ordinary_under_jack(jack_realtime) if api == API_IDS["jack"] else "")
        opened_ms = (time.perf_counter() - started) * 1000
        models = ", ".join(path.name for path in paths) or "none (thru only)"
        print(f"Sideman {__version__}: listening on '{bridge.input.name}', playing on '{bridge.output.name}' "
              f"({API_NAMES[api]}; model {models}; clock {config.bridge.clock}; thru {'on' if config.bridge.thru else 'off'}); "
              f"engine thread {bridge.scheduling}; ports open after {opened_ms:.0f} ms. Ctrl-C to stop.", flush=True)
        if recorder is not None:
            print(f"Recording this session to {recorder.journal_path}", flush=True)
        if not config.status.quiet:
            from sideman.bridge.live.status import StatusLine

            status = StatusLine(bridge, xruns=(lambda: watch.xruns) if watch is not None else None)
            status.start()
        while not bridge.wait(timeout=0.5):
            pass
    finally:
        if status is not None:
            status.stop()
        recording = bridge.close()
        if watch is not None:
            watch.close()
    print(f"Sideman stopped: {bridge.stats.received} messages in, {bridge.stats.sent} out, "
          f"{bridge.inbox.dropped} dropped, {bridge.stats.malformed} malformed.", flush=True)
    if recording is not None:
        print(f"Session saved: {recording}", flush=True)
    if watch is not None and watch.xruns:
        print(f"The JACK server reported {watch.xruns} xrun(s): cycles where some client finished late, when JACK "
              f"may drop or repeat MIDI. {'A larger JACK period or a less busy machine helps.' if jack_realtime else 'Run JACK realtime (jackd -R).'}",
              flush=True)
    if watch is not None and watch.lost is not None:
        raise PortError(f"the JACK server stopped while Sideman was running ({watch.lost}); start it again, then `sideman run`")
    lost_input = getattr(bridge.input, "lost", None)
    if lost_input is not None:
        raise PortError(f"the MIDI input relay process stopped while Sideman was running ({lost_input}); "
                        "nothing came in after that; run `sideman run` again")
    return 0


def _log_to_file(path: str) -> None:
    handler = logging.FileHandler(path)
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
            commands[name] = getattr(mod, cmd)

    return parser, commands


def _import_command_module(module: str, command: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name in ("torch", "music21", "onnx", "onnxscript", "matplotlib", "tqdm"):
            raise SidemanError(f"`sideman {command}` needs {exc.name}: {TRAIN_EXTRAS_HINT}") from None
        raise


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


if __name__ == "__main__":
    sys.exit(main())
