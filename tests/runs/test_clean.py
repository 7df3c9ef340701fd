"""`vae clean` removes only what vaecli made, only inside a run or runs folder; everything else is listed, kept."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import dead_pid, temporary_name, vae


def make_run(folder: Path) -> Path:
    """A run folder as far as clean is concerned (no training needed): config and manifest."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("name: x\n")
    (folder / "manifest.json").write_text(json.dumps({"status": "KILLED", "name": folder.name}))
    return folder


def make_claim(runs: Path, name: str, files: dict[str, str]) -> Path:
    claim = runs / f".{name}.claim-abcd1234"
    claim.mkdir()
    for file, text in files.items():
        (claim / file).write_text(text)
    return claim


def test_a_folder_that_is_no_runs_folder_is_refused_and_nothing_goes(tmp_path):
    project = tmp_path / "project"
    user_claim = project / ".proj.claim-xyz12345"
    user_claim.mkdir(parents=True)
    (user_claim / "important.txt").write_text("keep me")
    like_a_temporary = project / temporary_name("notes.txt", dead_pid())
    like_a_temporary.write_text("mine")
    for arguments in ([project], [project, "--dry-run"]):
        result = vae("clean", *arguments)
        assert result.exit_code == 2, result.output
        assert "is neither a run folder nor a runs folder" in result.output and "nothing removed" in result.output
    assert (user_claim / "important.txt").read_text() == "keep me" and like_a_temporary.read_text() == "mine"


def test_in_a_runs_folder_only_proven_leftovers_go_and_the_rest_is_listed(tmp_path):
    runs = tmp_path / "runs"
    run = make_run(runs / "tiny")
    dead = dead_pid()
    ours = [
        make_claim(runs, "tiny2", {"config.yaml": "name: tiny2\n", ".lock": f"pid {dead} on host since now\n"}),
        runs / temporary_name("LATEST", dead),
        run / temporary_name("latent.h5", dead),
        run / ".lock",
    ]
    ours[1].write_text("tiny\n")
    ours[2].write_bytes(b"\0" * 100)
    ours[3].write_text(f"pid {dead} on host since 2026-12-03T10:00:00+0000\n")
    user_claim = make_claim(runs, "proj", {"important.txt": "keep me"})
    user_lock = make_run(runs / "other") / ".lock"
    user_lock.write_text("my notes about this run, not a lock record\n")
    user_file = run / ".notes.txt"  # hidden, but no vaecli temporary name
    user_file.write_text("mine")

    result = vae("clean", runs, "--dry-run")
    assert result.exit_code == 0, result.output
    would = sorted(line.removeprefix("would remove ") for line in result.output.splitlines() if "would remove" in line)
    assert would == sorted(str(path) for path in ours)
    assert all(path.exists() for path in ours)
    output = " ".join(result.output.split())
    assert f"kept {user_claim}: it holds files vaecli does not write there: important.txt" in output
    assert f"kept {user_lock}: it does not hold a vaecli lock record" in output

    result = vae("clean", runs)
    assert result.exit_code == 0 and f"Removed {len(ours)} item(s)" in result.output, result.output
    assert not any(path.exists() for path in ours)
    assert (user_claim / "important.txt").read_text() == "keep me"
    assert user_lock.read_text().startswith("my notes") and user_file.read_text() == "mine"


def test_a_trash_folder_goes_only_when_it_holds_just_its_run(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs / "tiny")
    trash = runs / ".old.trash-abcd1234"
    make_run(trash / "old")
    crowded = runs / ".new.trash-abcd1234"
    make_run(crowded / "new")
    (crowded / "thesis.tex").write_text("mine")
    assert vae("clean", runs).exit_code == 0
    assert not trash.exists() and (crowded / "thesis.tex").read_text() == "mine"
