"""``stemhost plugins``: every plugin in the plugin folders listed with its figures, scanned in subprocesses
(a crash or a hang is a failed entry, never stemhost's end), cached until a bundle changes; ``plugins show``.

The folders are private copies: stemhost's five test plugins (tests/plugins/) and three of Debian's
zam-plugins, so the OS's folders (where ZamVerb takes minutes to load) are never scanned here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stemhost.cli.main import main
from stemhost.engine import plugin_folders, plugin_scan
from stemhost.engine.plugin_params import HIDDEN_PARAMETERS

ZAM = Path("/usr/lib/vst3")
ZAM_PLUGINS = ("ZamEQ2", "ZamComp", "ZaMaximX2")
TIMEOUT_S = 5


@pytest.fixture(scope="module")
def zam_folder(tmp_path_factory) -> Path:
    """Copies of three zam-plugins bundles (copies: a link out of a plugin folder is not followed)."""
    if not all((ZAM / f"{name}.vst3").is_dir() for name in ZAM_PLUGINS):
        reason = "Debian's zam-plugins are not installed (scripts/install test installs them)"
        if os.environ.get("STEMHOST_PLUGIN_TESTS") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("zam")
    for name in ZAM_PLUGINS:
        shutil.copytree(ZAM / f"{name}.vst3", folder / f"{name}.vst3", symlinks=True)
    return folder


@pytest.fixture
def good_folder(test_plugin_folder, tmp_path) -> Path:
    """A folder with copies of the two test plugins that scan fine (their binaries may be touched)."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name in ("StemhostGain", "StemhostMono"):
        shutil.copytree(test_plugin_folder / f"{name}.vst3", folder / f"{name}.vst3")
    return folder


@pytest.fixture(autouse=True)
def only_these_folders(monkeypatch, tmp_path):
    """No OS plugin folder and a fresh cache in each test: only the folders a test names are scanned."""
    monkeypatch.setattr(plugin_folders, "standard_folders", lambda platform=None: [])
    monkeypatch.delenv(plugin_folders.PATH_VARIABLE, raising=False)
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def scans(monkeypatch) -> list[list[str]]:
    """Every scanner subprocess started, by its command line."""
    started = []
    popen = subprocess.Popen

    def counting(command, *args, **kwargs):
        started.append(command)
        return popen(command, *args, **kwargs)

    monkeypatch.setattr(plugin_scan.subprocess, "Popen", counting)
    return started


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys, *folders, extra=()) -> dict[str, dict]:
    paths = [a for f in folders for a in ("--plugin-path", f)]
    code, out, err = run(capsys, "plugins", "--json", "--timeout", TIMEOUT_S, *paths, *extra)
    assert code == 0, err
    return {p["name"]: p for p in json.loads(out)["plugins"]}


def test_lists_test_and_zam_plugins_with_their_figures(capsys, test_plugin_folder, zam_folder):
    plugins = listed(capsys, test_plugin_folder, zam_folder)
    assert set(plugins) == {
        "StemhostGain", "StemhostLatency", "StemhostMono", "StemhostAbort", "StemhostHang", *ZAM_PLUGINS
    }  # fmt: skip
    figures = {
        name: (p["vendor"], p["version"], p["format"], p["channels_in"], p["channels_out"], p["latency_samples"])
        for name, p in plugins.items()
        if p["error"] is None
    }
    assert figures == {
        "StemhostGain": ("stemhost", "1.2.3", "VST3", 2, 2, 0),
        "StemhostLatency": ("stemhost", "1.2.3", "VST3", 2, 2, 1000),
        "StemhostMono": ("stemhost", "1.2.3", "VST3", 1, 1, 0),
        "ZamEQ2": ("Damien Zammit", "4.1.0", "VST3", 1, 1, 0),
        "ZamComp": ("Damien Zammit", "4.1.0", "VST3", 1, 1, 0),
        "ZaMaximX2": ("Damien Zammit", "4.1.0", "VST3", 2, 2, 480),
    }
    assert plugins["StemhostGain"]["path"] == str(test_plugin_folder / "StemhostGain.vst3")
    assert plugins["ZamEQ2"]["category"] == "Fx|EQ|Mono"


def test_a_crashing_and_a_hanging_plugin_are_listed_as_failed(capsys, test_plugin_folder, scans):
    code, out, err = run(capsys, "plugins", "--timeout", TIMEOUT_S, "--plugin-path", test_plugin_folder)
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "failed: crashed: SIGABRT" in lines["StemhostAbort"]
    assert f"failed: did not load within {TIMEOUT_S} s" in lines["StemhostHang"]
    assert "stereo" in lines["StemhostGain"] and "1000 frames" in lines["StemhostLatency"]
    assert "mono" in lines["StemhostMono"]
    assert "5 plugins in 1 folders, 2 failed to scan; 5 bundles scanned, 0 from the cache" in out
    assert len(scans) == 5


def test_a_hanging_scan_leaves_no_process_behind(test_plugin_folder, monkeypatch):
    started = []
    popen = subprocess.Popen
    monkeypatch.setattr(plugin_scan.subprocess, "Popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1])
    [hang] = plugin_scan.scan_bundle(test_plugin_folder / "StemhostHang.vst3", timeout_s=1)
    assert hang.error == "did not load within 1 s"
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(started[0].pid, 0)


def test_second_listing_comes_from_the_cache(capsys, good_folder, scans):
    first = listed(capsys, good_folder)
    assert len(scans) == 2
    code, out, _ = run(capsys, "plugins", "--plugin-path", good_folder)
    assert code == 0 and "2 bundles scanned" not in out and "0 bundles scanned, 2 from the cache" in out
    assert listed(capsys, good_folder) == first
    assert len(scans) == 2  # no subprocess ran: no plugin code was loaded again


def test_a_touched_binary_is_scanned_again(capsys, good_folder, scans):
    listed(capsys, good_folder)
    binary = next((good_folder / "StemhostMono.vst3" / "Contents").glob("*-linux/StemhostMono.so"))
    info = binary.stat()
    os.utime(binary, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    listed(capsys, good_folder)
    assert [Path(command[-2]).name for command in scans[2:]] == ["StemhostMono.vst3"]


def test_rescan_ignores_the_cache(capsys, good_folder, scans):
    listed(capsys, good_folder)
    listed(capsys, good_folder, extra=["--rescan"])
    assert len(scans) == 4


def test_show_lists_a_plugins_parameters_without_hidden_ones(capsys, zam_folder):
    code, out, err = run(capsys, "plugins", "show", "ZamEQ2", "--plugin-path", zam_folder)
    assert code == 0, err
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["master_gain_db"])
    assert row == ["master_gain_db", "dB", "-12", "..", "12", "0", "number"]
    assert "peaks_on" in out and "off, on" in out
    assert not any(hidden in out for hidden in HIDDEN_PARAMETERS)
    code, out, _ = run(capsys, "plugins", "show", "zameq2.vst3", "--json", "--plugin-path", zam_folder)
    shown = json.loads(out)
    gain = next(p for p in shown["parameters"] if p["key"] == "master_gain_db")
    assert (gain["unit"], gain["minimum"], gain["maximum"], gain["default"]) == ("dB", -12.0, 12.0, 0.0)
    boost = next(p for p in shown["parameters"] if p["key"] == "boost_cut_1_db")
    assert boost["default"] == 0.0  # not the float32 raw value's 1.19e-06


def test_host_internals_are_never_listed(capsys, test_plugin_folder):
    code, out, _ = run(capsys, "plugins", "show", "StemhostLatency", "--json", "--plugin-path", test_plugin_folder)
    assert code == 0 and json.loads(out)["parameters"] == []  # pedalboard lists latency_frames
    code, out, _ = run(capsys, "plugins", "show", "StemhostGain", "--json", "--plugin-path", test_plugin_folder)
    [gain] = json.loads(out)["parameters"]
    assert (gain["key"], gain["unit"], gain["minimum"], gain["maximum"], gain["default"]) == (
        "gain_db", "dB", -24.0, 24.0, -6.0
    )  # fmt: skip


def test_unknown_name_is_one_error_with_the_nearest_names(capsys, zam_folder):
    code, out, err = run(capsys, "plugins", "show", "ZamEQ", "--plugin-path", zam_folder)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: no plugin named 'ZamEQ'")
    assert "'ZamEQ2'" in err


def test_showing_a_plugin_that_failed_is_an_error(capsys, test_plugin_folder):
    code, _, err = run(capsys, "plugins", "show", "StemhostAbort", "--plugin-path", test_plugin_folder)
    assert code == 1 and "could not be scanned (crashed: SIGABRT)" in err and err.count("\n") == 1


def scanners_of(bundle: Path) -> list[int]:
    """The processes whose command line names the bundle (scanner subprocesses), by /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(bundle).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_ctrl_c_stops_the_scans_at_once(test_plugin_folder, tmp_path):
    folder = tmp_path / "hanging"
    shutil.copytree(test_plugin_folder / "StemhostHang.vst3", folder / "StemhostHang.vst3")
    program = (
        "import sys; from stemhost.engine import plugin_folders; plugin_folders.standard_folders = lambda p=None: []; "
        "from stemhost.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    cli = subprocess.Popen(
        [sys.executable, "-c", program, "plugins", "--timeout", "60", "--plugin-path", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "STEMHOST_CACHE_DIR": str(tmp_path / "c")},
        preexec_fn=ctrl_c_as_at_a_terminal,
    )  # fmt: skip
    bundle = folder / "StemhostHang.vst3"
    try:
        deadline = time.monotonic() + 20
        while not scanners_of(bundle) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scanners_of(bundle), "the scanner did not start"
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=10)  # not the scan's 60 s
        assert cli.returncode == 128 + signal.SIGINT, err
        assert err.decode().startswith("error: interrupted")
        assert scanners_of(bundle) == []
    finally:  # a failed test leaves nothing running either
        cli.kill()
        cli.wait()
        for pid in scanners_of(bundle):
            os.kill(pid, signal.SIGKILL)


def ctrl_c_as_at_a_terminal() -> None:
    """In a child before it runs: Ctrl-C (SIGINT) as a terminal delivers it. A shell starts background jobs with
    SIGINT ignored, and Python then never raises KeyboardInterrupt: a test run in the background inherits that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_a_scanner_starts_still_stops_it(test_plugin_folder, tmp_path, monkeypatch):
    """Ctrl-C landing between a scanner's start and its listing among the running ones kills that scanner too
    (before, the listing then waited out the scan's timeout)."""
    import threading

    from stemhost.engine import plugin_scan

    folder = tmp_path / "hanging"
    shutil.copytree(test_plugin_folder / "StemhostHang.vst3", folder / "StemhostHang.vst3")
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "c"))
    main, started = threading.main_thread().ident, subprocess.Popen

    def late_popen(*args, **kwargs):
        process = started(*args, **kwargs)
        signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C now, before the scanner is listed
        time.sleep(0.3)
        return process

    monkeypatch.setattr(plugin_scan.subprocess, "Popen", late_popen)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal, even in a background run
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            plugin_scan.list_plugins([folder], timeout_s=30)
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert time.monotonic() - began < 5, "the listing waited for the scan's timeout"
    assert scanners_of(folder / "StemhostHang.vst3") == []
