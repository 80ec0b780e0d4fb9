"""dvclive loggers for training curves, one folder per stage under metrics/curves/.

dvc.yaml declares `metrics/curves/<name>/plots/metrics` as each stage's outs, which its top-level
`plots:` charts (train and valid loss on one chart). The
stage's own summary goes to `metrics/<stage>.json`, so dvclive's per-folder summary
(`metrics.json`) is not written: it would be an undeclared file inside metrics/.
"""

from __future__ import annotations

from pathlib import Path


def curves_dir(name: str) -> Path:
    return Path("metrics") / "curves" / name


def open_live(name: str, resume: bool = False):
    """A dvclive `Live` that writes step curves for dvc.yaml to declare, and no experiments."""
    from dvclive import Live

    class _CurvesOnly(Live):
        def end(self) -> None:
            super().end()
            # The stage writes metrics/<stage>.json itself; drop dvclive's copy.
            Path(self.metrics_file).unlink(missing_ok=True)

    return _CurvesOnly(
        dir=str(curves_dir(name)), dvcyaml=None, save_dvc_exp=False, report=None, resume=resume
    )
