"""FAKE run directories for the leaderboard tests — made-up numbers in dabench's real on-disk format.

Nothing here was trained: every accuracy, distance and image score below is invented so that the tests can
check how ``dabench leaderboard`` reads, aggregates and renders run results. :func:`write_run` writes one run
directory the way ``dabench.train`` lays it out (``config.json``, ``env.json``, ``metrics.jsonl``,
``result.json``, ``eval_<protocol>.json``, ``done``); :func:`build_fixture` writes the committed golden-test
fixture ``tests/data/leaderboard/``.

Rewrite the fixture (only when this file changes; then regenerate the golden file, see tests/test_leaderboard.py)::

    python tests/fake_runs.py
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "data" / "leaderboard"
FAKE_COMMIT = "fa4efa4efa4efa4efa4efa4efa4efa4efa4efa4e"  # not a real commit: these runs never ran

#: a plausible, small set of resolved hyper-parameters per method (fake runs need not match today's defaults)
HPARAMS = {
    "source-only": {"batch_size": 64, "lr": 0.01, "momentum": 0.9},
    "target-only": {"batch_size": 64, "lr": 0.01, "momentum": 0.9},
    "dann": {"batch_size": 64, "lr": 0.01, "momentum": 0.9, "gamma": 10.0},
    "cdlm": {"batch_size": 64, "c": 8, "d_z": 32, "h_layer": "e4", "gamma1": 1.0, "gamma2": 0.1,
             "consistency": "both"},
    "unit-lite": {"batch_size": 32, "gen_ch": 16},
}
CPU = {"device": "cpu", "device_name": "x86_64", "torch": "2.14.1+cpu"}
GPU = {"device": "cuda", "device_name": "NVIDIA H200", "torch": "2.14.1+cu130"}


def _json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_run(root: Path, method: str, task: str, seed: int, *, acc: float | None = None, steps: int = 300,
              data: str = "full", hparams: dict | None = None, hardware: dict = CPU, done: bool = True,
              oracle: bool = False, quality: tuple[float, float, float] | None = None,
              extra_paths: dict[str, float] | None = None, pad: dict[str, float] | None = None,
              pngs: tuple[str, ...] = (), cpu_s: tuple[float, float, float] | None = None,
              hparams_seed: int = 0, evals: tuple[dict, dict, dict] | None = None,
              classifier_cpu_s: float | None = None) -> Path:
    """Write one fake run directory under ``root`` and return it.

    Args:
        acc: the last step's target accuracy (a classification task); the other two evaluations are made up
            around it: the middle one is 0.01 better on target and — for even seeds — best on source-val.
        quality: (SSIM, MSE, PSNR) of the last step (a translation task), instead of ``acc``.
        extra_paths: ``tgt_test/<name>/acc`` values of the last step.
        pad: kind (raw, features, translated) → d_A, written as ``eval_pad.json``.
        pngs: figure files to write (tiny real PNGs).
        cpu_s: the compute axis (``compute/cpu_s`` of the three evaluations; images are steps × 2 × batch).
        hparams_seed: the hyper-parameter draw recorded in the configuration (0: the defaults); give the draw's
            ``hparams`` too, as they, not the draw, make the run id (a draw's values are the resolved
            hyper-parameters, not overrides set by hand: its configuration records none).
        evals: values written over the made-up ones of the three evaluations, one dict each (e.g. their
            ``tgt_test/acc`` and validator scores ``valid/<name>``).
        classifier_cpu_s: the CPU seconds of the source-only run it classifies through, recorded in its result.
    """
    hp = dict(HPARAMS.get(method, {"batch_size": 64}), **(hparams or {}))  # other methods: a batch size
    eval_every = max(1, steps // 3)
    semantic = {"method": method, "task": task, "seed": seed, "steps": steps, "hparams": hp, "data": data,
                "eval_every": eval_every, "protocol_version": 1}
    run_id = hashlib.sha256(json.dumps(semantic, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    run_dir = root / f"{method}_{task}_s{seed}_{run_id}"
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"method": method, "task": task, "seed": seed, "steps": steps,
              "hparams": {} if hparams_seed else dict(hparams or {}),
              "hparams_seed": hparams_seed, "data": data, "eval_every": None, "checkpoint_every": 500}
    _json(run_dir / "config.json", {"config": config, **semantic, "run_id": run_id})
    _json(run_dir / "env.json", {"commit": FAKE_COMMIT, "dabench": "0.1.0", "host": "fake", "python": "3.11.7",
                                 "threads": 1, **hardware})
    lines = []
    for i, step in enumerate((eval_every, 2 * eval_every, steps)):
        line = {"step": step, "train/loss": round(1.0 / (i + 1), 4)}
        if quality is not None:
            ssim, mse, psnr = quality
            line.update({"tgt_test/ssim": ssim - 0.02 * (2 - i), "tgt_test/mse": mse + 0.01 * (2 - i),
                         "tgt_test/psnr": psnr - 0.5 * (2 - i)})
        else:
            line["tgt_test/acc"] = (acc - 0.1, acc + 0.01, acc)[i]
            line["src_val/acc"] = ((0.90, 0.97, 0.95) if seed % 2 == 0 else (0.90, 0.95, 0.97))[i]
            for name, value in (extra_paths or {}).items():
                line[f"tgt_test/{name}/acc"] = value - 0.05 * (2 - i)
        if cpu_s is not None:
            line.update({"compute/cpu_s": cpu_s[i], "compute/wall_s": cpu_s[i],
                         "compute/images": step * 2 * hp["batch_size"]})
        line.update(evals[i] if evals else {})
        lines.append(line)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(ln, sort_keys=True) + "\n" for ln in lines))
    last = lines[-1]
    result = {"run_id": run_id, **semantic, "oracle": oracle, "wall_time_s": 1.0,
              "final": {k: v for k, v in last.items() if k.startswith("tgt_test/")}}
    if quality is None:
        best = max(lines, key=lambda m: (m["src_val/acc"], m["step"]))
        result.update({"target_acc": last["tgt_test/acc"], "source_val_acc": last["src_val/acc"], "selection": {
            "last": {"step": last["step"], "target_acc": last["tgt_test/acc"]},
            "source_val_best": {"step": best["step"], "target_acc": best["tgt_test/acc"],
                                "source_val_acc": best["src_val/acc"]}}})
    else:
        result.update({"target_acc": None, "source_val_acc": None,
                       "selection": {"last": {"step": last["step"], **result["final"]}}})
        ssim, mse, psnr = quality
        _json(run_dir / "eval_image-quality.json", {
            "run_id": run_id, "method": method, "task": task, "seed": seed, "steps": steps, "data": data,
            "protocol": "image-quality", "random_state": seed, "figures": [], "eval_time_s": 1.0,
            "result": {"ssim": ssim, "mse": mse, "psnr": psnr, "n": 200, "split": f"{task}/test",
                       "input_baseline": {"ssim": 0.5, "mse": 0.27, "psnr": 5.99}}})
    if classifier_cpu_s is not None:
        result["source_classifier"] = {"run_id": "0123456789ab", "cpu_time_s": classifier_cpu_s}
    _json(run_dir / "result.json", result)
    if pad:
        src, tgt = task.split("-")
        _json(run_dir / "eval_pad.json", {
            "run_id": run_id, "method": method, "task": task, "seed": seed, "steps": steps, "data": data,
            "protocol": "pad", "random_state": seed, "figures": [], "eval_time_s": 1.0,
            "result": {"source_split": f"{src}/test", "target_split": f"{tgt}/test",
                       **{kind: {"d_a": d_a, "n_per_domain": 2000, "classifier": "linear SVM (fake)"}
                          for kind, d_a in pad.items()}}})
    for name in pngs:
        _tiny_png(run_dir / name)
    if done:
        (run_dir / "done").write_text("")
    return run_dir


def _tiny_png(path: Path) -> None:
    from PIL import Image

    Image.new("L", (4, 4), color=128).save(path, format="PNG")


#: fake final target accuracies: method → task → per-seed values
TABLE1 = {
    "source-only": {"mnist-usps": (0.781, 0.795), "usps-mnist": (0.702, 0.688)},
    "dann": {"mnist-usps": (0.861, 0.874, 0.852), "usps-mnist": (0.903, 0.915)},
    "cdlm": {"mnist-usps": (0.912, 0.905), "usps-mnist": (0.948, 0.951)},
    "target-only": {"mnist-usps": (0.975, 0.979), "usps-mnist": (0.990, 0.991)},
}


def build_fixture(root: Path = FIXTURE) -> None:
    """Write the golden-test fixture: sweeps table1, pad, table5, translation, embedded and gpu."""
    if root.exists():
        shutil.rmtree(root)
    for method, by_task in TABLE1.items():
        for task, values in by_task.items():
            for seed, acc in enumerate(values):
                extra = {"eps0": acc - 0.01, "source_only": TABLE1["source-only"][task][seed % 2]} \
                    if method == "cdlm" else None
                write_run(root / "table1", method, task, seed, acc=acc, oracle=method == "target-only",
                          extra_paths=extra)
    write_run(root / "table1", "cdlm", "mnist-usps", 2, acc=0.5, done=False)  # unfinished: skipped
    # the pad sweep shares its runs with table1 (same run ids): they count once, their eval_pad.json is added
    write_run(root / "pad", "dann", "mnist-usps", 0, acc=0.861, pad={"raw": 1.956, "features": 1.824},
              pngs=("tsne.png",))
    write_run(root / "pad", "cdlm", "mnist-usps", 0, acc=0.912, pad={"raw": 1.956, "features": 1.702,
                                                                     "translated": 1.433},
              extra_paths={"eps0": 0.902, "source_only": 0.781})
    for seed, acc in enumerate((0.651, 0.633)):
        write_run(root / "table5", "cdlm", "mnist-usps", seed, acc=acc, hparams={"consistency": "off"})
    for seed, quality in enumerate(((0.7012, 0.0211, 17.31), (0.6954, 0.0219, 17.02))):
        write_run(root / "translation", "cdlm", "sketch-face", seed, quality=quality,
                  pngs=("grid.png",) if seed == 0 else ())
    write_run(root / "translation", "unit-lite", "sketch-face", 0, quality=(0.6503, 0.0302, 15.87))
    write_run(root / "embedded", "dann", "mnist-usps", 0, acc=0.702, data="embedded")
    write_run(root / "gpu", "dann", "mnist-usps", 0, acc=0.915, steps=20000, hardware=GPU)
    (root / "README.md").write_text(
        "# FAKE TEST DATA — not results\n\n"
        "Every run directory below was written by `tests/fake_runs.py` with made-up numbers, in dabench's real "
        "on-disk format, for the golden-file test of `dabench leaderboard` (tests/test_leaderboard.py). Nothing "
        "here was trained; never quote these numbers.\n\nRewrite it with `python tests/fake_runs.py`.\n")


if __name__ == "__main__":
    build_fixture(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE)
    print(f"wrote {FIXTURE}")
