"""`vae doctor`: what is wrong with a run folder, and the command that fixes it.

    report = vaecli.diagnose("runs/quickstart")     # a Diagnosis: findings, each with its fix

Nothing here loads TensorFlow or a model: a diagnosis reads the files (JSON, YAML, HDF5
attributes, zip directories) and asks the run's lock whether a process is training it.
A live run is never changed by `clean`, and reported as such by `doctor`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from vaecli.errors import VaeError
from vaecli.io.atomic import human_bytes, is_stale_temporary
from vaecli.runs.claims import holder, stale_claims
from vaecli.runs.folders import run_candidates, stale_temporaries
from vaecli.runs.manifest import STATUS_COMPLETED, STATUS_RUNNING, Manifest, read_manifest
from vaecli.runs.paths import LATEST_POINTER, RunPaths
from vaecli.runs.records import read_metrics


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth knowing) about a run folder, and the command that fixes it."""

    problem: str
    fix: str | None = None  # a command to run, or None when nothing needs doing
    serious: bool = True  # False: informative (a live run, a harmless stale lock)


@dataclass
class Diagnosis:
    """What `vae doctor` found in one folder; healthy when nothing serious."""

    root: Path
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""  # "COMPLETED, 10 epochs" for a readable run

    @property
    def healthy(self) -> bool:
        return not any(finding.serious for finding in self.findings)


def _restart(paths: RunPaths) -> str:
    return f"vae train {paths.config} --name {paths.name} --runs-dir {paths.root.parent} --force"


def _resume(paths: RunPaths) -> str:
    return f"vae train --resume {paths.root}"


def _readable_files(paths: RunPaths, findings: list[Finding]) -> Manifest | None:
    """The manifest (None when it cannot be used) after checking the config and manifest are there and sound."""
    from vaecli.config import load_config

    config_ok = paths.config.is_file()
    if not config_ok:
        findings.append(Finding("config.yaml is missing: the run cannot be resumed or used", f"rm -r {paths.root}"))
    else:
        try:
            load_config(paths.config)
        except VaeError as error:
            config_ok = False
            findings.append(Finding(f"config.yaml is not a valid config ({error.lines[0]})", f"rm -r {paths.root}"))
    if not paths.manifest.is_file():
        fix = _restart(paths) if config_ok else f"rm -r {paths.root}"
        findings.append(Finding("manifest.json is missing: the run cannot be resumed or used", fix))
        return None
    try:
        return read_manifest(paths)
    except VaeError as error:
        fix = _restart(paths) if config_ok else f"rm -r {paths.root}"
        findings.append(Finding(error.lines[0], fix))
        return None


def _checkpoint_epoch(paths: RunPaths, manifest: Manifest | None, findings: list[Finding]) -> int | None:
    """The epoch a resume would continue from (0: none), after verifying checksums; None when it cannot resume."""
    from vaecli.runs.checkpoints import checkpoint_epoch
    from vaecli.runs.integrity import intact_checkpoints, resume_point

    # No manifest or config (reported already), or a run written before checksums: the file's own epoch.
    if manifest is None or not manifest.checked_files or not paths.config.is_file():
        try:
            return checkpoint_epoch(paths.checkpoint)
        except VaeError:
            findings.append(Finding(f"{paths.checkpoint} is unreadable: the run cannot be resumed", _restart(paths)))
            return None
    damaged_fallback = intact_checkpoints(paths).get(paths.previous_checkpoint)
    if isinstance(damaged_fallback, VaeError):  # resume does not need it; it is no fallback any more
        findings.append(Finding(damaged_fallback.lines[0] + "; it is no fallback", None, serious=False))
    try:
        start = resume_point(paths, manifest)
    except VaeError as error:
        findings.append(Finding(error.lines[0], _fix(error)))
        return None
    return start.epoch if start else 0


def _fix(error: VaeError) -> str | None:
    """The recovery sentence of an integrity error (its second line), if it has one."""
    return error.lines[1] if len(error.lines) > 1 else None


def _agreement_findings(paths: RunPaths, manifest: Manifest, saved: int, findings: list[Finding]) -> None:
    """Checkpoint, metrics.jsonl and manifest name epochs that can all be true; final models match their sha256."""
    from vaecli.runs.integrity import check_agreement, verify_final_models

    try:
        rows = read_metrics(paths)
    except VaeError:
        return  # reported by _metrics_findings
    try:
        verify_final_models(paths, manifest)
        if saved:
            check_agreement(paths, manifest, rows, saved, manifest.epochs or saved)
    except VaeError as error:
        findings.append(Finding(error.lines[0], _fix(error)))


def _status_findings(paths: RunPaths, manifest: Manifest, saved: int | None, findings: list[Finding]) -> None:
    """The manifest's status against the folder: killed runs, missing or broken final models."""
    if manifest.status == STATUS_RUNNING:
        findings.append(Finding("status is RUNNING but no process is training it (killed)", _resume(paths)))
    elif manifest.status != STATUS_COMPLETED:
        reason = f": {manifest.error}" if manifest.error else ""
        findings.append(Finding(f"the run stopped as {manifest.status}{reason}", _resume(paths)))
    for model in (paths.encoder, paths.decoder):
        if manifest.status == STATUS_COMPLETED and not model.is_file():
            fix = _resume(paths) + " (rebuilds it from the last checkpoint)" if saved else _restart(paths)
            findings.append(Finding(f"the run is COMPLETED but {model.name} is missing", fix))
        elif model.is_file() and not zipfile.is_zipfile(model):
            fix = f"rm {model} && " + _resume(paths) if saved else _restart(paths)
            findings.append(Finding(f"{model.name} is not a readable Keras file (cut off?)", fix))


def _metrics_findings(paths: RunPaths, manifest: Manifest, saved: int | None, findings: list[Finding]) -> None:
    try:
        rows = read_metrics(paths)
    except VaeError as error:
        findings.append(Finding(error.lines[0], f"restore it from a backup, or start again: {_restart(paths)}"))
        return
    if saved is not None and manifest.status != STATUS_COMPLETED:
        ahead = [row["epoch"] for row in rows if row["epoch"] > saved]
        if ahead:
            findings.append(
                Finding(
                    f"metrics.jsonl has rows for epochs {ahead[0]}-{ahead[-1]} past the last checkpoint (epoch "
                    f"{saved}); resuming drops them and trains those epochs again",
                    _resume(paths),
                )
            )


def incomplete_densities(folder: Path) -> list[str]:
    """For `vae doctor`: one line per half-written density in a run's densities folder.

    A .npz without its .json is a fit killed between its two writes (harmless: it does not
    exist for load_density; remove it); a .json without its .npz cannot be loaded.
    """
    if not folder.is_dir():
        return []
    parameters = {path.stem for path in folder.glob("*.npz")}
    details = {path.stem for path in folder.glob("*.json")}
    return [
        f"{folder / name}.npz has no {name}.json (an interrupted fit): remove it"
        for name in sorted(parameters - details)
    ] + [
        f"{folder / name}.json has no {name}.npz: fit density {name!r} again with force"
        for name in sorted(details - parameters)
    ]


def diagnose(run: str | Path) -> Diagnosis:
    """What is wrong with a run folder, each finding with the command that fixes it.

    Example:
        >>> report = vaecli.diagnose("runs/quickstart")
        >>> report.healthy, [finding.fix for finding in report.findings]
        (False, ['vae train --resume runs/quickstart'])
    """
    paths = RunPaths(Path(run))
    diagnosis = Diagnosis(paths.root)
    findings = diagnosis.findings
    if not paths.root.is_dir():
        findings.append(Finding(f"{paths.root} is not a folder"))
        return diagnosis
    live = holder(paths.root)
    if live:
        findings.append(Finding(f"being trained right now ({live}); nothing to check", serious=False))
        return diagnosis
    manifest = _readable_files(paths, findings)
    saved = _checkpoint_epoch(paths, manifest, findings)
    if manifest is not None:
        diagnosis.summary = f"{manifest.status}, {manifest.epochs_completed} of {manifest.epochs or '?'} epochs"
        _status_findings(paths, manifest, saved, findings)
        _metrics_findings(paths, manifest, saved, findings)
        if saved is not None and manifest.checked_files:
            _agreement_findings(paths, manifest, saved, findings)
    findings += [Finding(problem) for problem in incomplete_densities(paths.densities)]  # the line says what to do
    stale = stale_temporaries(paths)
    if stale:
        size = sum(path.stat().st_size for path in stale if path.exists())
        names = ", ".join(str(path.relative_to(paths.root)) for path in stale[:3]) + (", ..." if len(stale) > 3 else "")
        findings.append(
            Finding(
                f"{len(stale)} temporary file(s) ({human_bytes(size)}) left by a killed process: {names}",
                _clean(paths.root),
            )
        )
    if paths.lock.exists():
        findings.append(Finding("a stale lock file .lock (its process is gone; harmless)", _clean(paths.root), False))
    return diagnosis


def _clean(path: Path) -> str:
    return f"vae clean {path}"


def diagnose_runs(runs_dir: str | Path) -> tuple[list[Diagnosis], list[Finding]]:
    """diagnose() for every run in runs_dir, and the findings about the runs folder itself."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return [], [Finding(f"{runs_dir} is not a folder")]
    reports = [diagnose(folder) for folder in run_candidates(runs_dir)]
    own: list[Finding] = []
    pointer = runs_dir / LATEST_POINTER
    if pointer.is_file():
        named = pointer.read_text(errors="replace").strip()
        if not (runs_dir / named).is_dir():
            own.append(Finding(f"LATEST names {named!r}, which is not a run folder", f"rm {pointer}"))
    elif pointer.is_dir():  # a run an older vaecli let be named LATEST
        own.append(Finding(f"{pointer} is a folder, not the latest-run pointer", f"mv {pointer} {pointer}-run"))
    leftovers = stale_claims(runs_dir)
    leftovers += [path for path in runs_dir.glob(".*") if is_stale_temporary(path)]
    if leftovers:
        own.append(Finding(f"{len(leftovers)} folder(s) or file(s) left by killed processes", _clean(runs_dir)))
    return reports, own
