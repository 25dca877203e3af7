"""Commands that use an audio device: ``devices`` and ``play``."""

from __future__ import annotations

import argparse

from stemhost.cli.arguments import check_output, plugin_folders, prepared_session


def devices(_args: argparse.Namespace) -> int:
    from stemhost.live.devices import NO_DEVICE_HELP, output_devices

    found = output_devices()
    for d in found:
        mark = "*" if d.default else " "
        print(f"{mark} {d.index:>3}  {d.name}  ({d.host_api}, {d.channels} out, {d.sample_rate} Hz)")
    if not found:
        print(f"no output device; {NO_DEVICE_HELP}")
    return 0


def play(args: argparse.Namespace) -> int:
    from stemhost.live.play import PlayOptions, play_headless

    session = prepared_session(args)
    options = PlayOptions(args.device, args.blocksize, args.start, args.duration, plugin_folders=plugin_folders(args))
    midi = None
    if args.midi is not None or args.midi_map is not None:
        from stemhost.errors import SessionError
        from stemhost.show.midi import find_port, load_mapping

        if args.midi is None:
            raise SessionError("--midi-map: give the MIDI input too (--midi PORT)")
        rules = load_mapping(args.midi_map, [s.name for s in session.stems])
        midi = (find_port(args.midi)[0], rules)
    if args.no_ui:
        control = None
        if midi is not None:
            from stemhost.show.midi import PlayerControl, listening

            def control(player):
                return listening(*midi, PlayerControl(player))

        played = play_headless(session, args.session, options, control)
    else:
        from stemhost.live.mixer import run_mixer

        if args.save_as is not None:
            check_output(args, session, args.save_as, f"--save-as {str(args.save_as)!r}", session_too=False)
        played = run_mixer(session, args.session, options, args.save_as or args.session, midi)
    print("\n".join(played.summary))
    if played.error is not None:
        raise played.error
    return 0
