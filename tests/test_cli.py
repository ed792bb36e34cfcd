import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from redes.runs.writer import writing
from tests.test_cifar10 import CLASSES, _md5, _tar, _write_binary

QUICK = ["--set", "train.epochs=2", "--set", "model.hidden=[16]"]


def assert_one_line_error(result, *fragments):
    """Exit status 2, exactly one line `redes: error: ...` naming what went wrong, no traceback."""
    assert result.status == 2, result.err
    assert result.err.startswith("redes: error: ") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err, result.err


def test_train_json_summary_is_the_last_line_of_stdout(cli):
    result = cli("train", *QUICK, "--out", "run", "--json")
    assert result.status == 0
    summary = json.loads(result.out.strip().splitlines()[-1])
    assert summary["run_dir"] == "run" and summary["epochs"] == 2
    assert summary["seconds"] > 0 and summary["seconds_per_epoch"] > 0
    assert set(summary["test"]) == {"loss", "accuracy"}
    assert "epoch 2/2" in result.err and "precision" in result.err  # the human report went to stderr


def test_train_prints_model_epochs_and_report(cli):
    result = cli("train", *QUICK, "--set", "regularization.l2=0.001")
    assert result.status == 0
    assert "Sequential(" in result.out and "total" in result.out
    assert "epoch 1/2" in result.out and "penalty" in result.out
    assert "f1-score" in result.out and "true \\ predicted" in result.out


def test_eval_reproduces_the_end_of_training_numbers(cli):
    summary = json.loads(cli("train", *QUICK, "--out", "run", "--json").out.splitlines()[-1])
    for split in ("train", "val", "test"):
        result = cli("eval", "run", "--split", split, "--json")
        assert result.status == 0
        metrics = json.loads(result.out)
        assert {k: metrics[k] for k in ("loss", "accuracy")} == summary[split]
    assert "precision" in cli("eval", "run").out


def test_predict_writes_class_names_and_probabilities(cli, tmp_path):
    cli("train", *QUICK, "--out", "run")
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez(tmp_path / "x.npz", x=digits.data[:20])
    assert cli("predict", "run", "x.npz", "--out", "p.csv").status == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].split(",")[:2] == ["prediction", "p_0"] and len(lines) == 21
    assert all(line.split(",")[0] in [str(i) for i in range(10)] for line in lines[1:])
    probabilities = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    # the same rows as a csv with a column its header names the target: it is dropped, predictions agree
    header = ",".join([f"pixel{i}" for i in range(64)] + ["target"])
    np.savetxt(tmp_path / "x.csv", np.column_stack([digits.data[:20], digits.target[:20]]), delimiter=",",
               header=header, comments="")
    assert cli("predict", "run", "x.csv").out.splitlines() == lines
    # without the header no column is known to be a target: all 65 are counted, none dropped
    np.savetxt(tmp_path / "y.csv", np.column_stack([digits.data[:20], digits.target[:20]]), delimiter=",")
    assert_one_line_error(cli("predict", "run", "y.csv"), "65 columns, but the model expects 64 features")
    np.savetxt(tmp_path / "z.csv", digits.data[:3, :3], delimiter=",")
    assert_one_line_error(cli("predict", "run", "z.csv"), "3 columns, but the model expects 64 features")
    np.savez(tmp_path / "nan.npz", x=np.where(np.arange(64) == 5, np.nan, digits.data[:2]))
    assert_one_line_error(cli("predict", "run", "nan.npz"), "x[0, 5] is nan")
    assert_one_line_error(cli("predict", "run", "x.npz", "--out", "p.csv"), "p.csv already exists")


def test_cifar10_archive_end_to_end(cli, tmp_path, monkeypatch):
    from redes.data import cifar10

    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 256, (20, 3072), dtype=np.uint8), rng.integers(0, 10, 20)) for _ in range(6)]
    _write_binary(tmp_path / "cifar-10-batches-bin", batches)
    archive = _tar(tmp_path / "cifar-10-batches-bin", tmp_path / "cifar-10-binary.tar.gz")
    assert_one_line_error(cli("train", "--set", "data.name=cifar10", "--set", f"data.path={archive}"),
                          "md5", "cifar-10-binary.tar.gz")
    monkeypatch.setitem(cifar10.ARCHIVES, "binary", dataclasses.replace(cifar10.ARCHIVES["binary"], md5=_md5(archive)))
    result = cli("train", "--set", "data.name=cifar10", "--set", f"data.path={archive}", *QUICK, "--out", "c")
    assert result.status == 0, result.err
    import redes

    run = redes.load_run(tmp_path / "c")
    assert run.classes == CLASSES and len(run.data.test) == 20
    assert run.data.train.x.min() >= -1 and run.data.train.x.max() <= 1  # normalised like the notebook
    assert "airplane" in (tmp_path / "c/report.txt").read_text()


@pytest.mark.parametrize("args, fragments", [
    (["train", "missing.yaml"], ["config file missing.yaml not found"]),
    (["train", "--set", "data.name=imagenet"], ["data.name", "got 'imagenet'"]),
    (["train", "--set", "train.epochs=many"], ["train.epochs", "expected int"]),
    (["train", "--set", "data.name=file", "--set", "data.path=nothing.csv"], ["data file", "nothing.csv not found"]),
    (["eval", "no_such_run"], ["run directory no_such_run does not exist"]),
    (["train", "--bogus"], ["unrecognized argument --bogus", "see 'redes train --help'"]),
    (["trian"], ["no command 'trian' (did you mean 'train'?)"]),
    (["eval", "run", "--splt", "val"], ["unrecognized argument --splt (did you mean '--split'?)"]),
])
def test_bad_input_gives_one_line_and_status_2(cli, args, fragments):
    assert_one_line_error(cli(*args), *fragments)


def test_the_version_is_the_installed_packages(cli):
    from importlib.metadata import version

    result = cli("--version")
    assert result.status == 0 and result.out == f"redes {version('redes')}\n"


def test_bash_completes_commands_and_options_from_the_generated_script(tmp_path):
    script = subprocess.run([sys.executable, "-m", "redes", "completion", "bash"], capture_output=True, text=True,
                            check=True).stdout
    (tmp_path / "redes.bash").write_text(script)

    def completed(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (f"source {tmp_path / 'redes.bash'}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
                 f"COMP_LINE='{line}'; COMP_POINT={len(line)}; _shtab_redes; echo ${{COMPREPLY[@]}}")
        return subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.split()

    assert completed("redes", "tr") == ["train"]
    assert completed("redes", "train", "--s") == ["--set"]
    assert "--split" in completed("redes", "eval", "--")


def test_bad_files_are_named(cli, tmp_path):
    (tmp_path / "garbled.yaml").write_text("data: [unclosed\n")
    assert_one_line_error(cli("train", "garbled.yaml"), "garbled.yaml: not valid YAML")
    (tmp_path / "text.csv").write_text("a,b,label\n1,2,0\n3,oops,1\n")
    assert_one_line_error(cli("train", "--set", "data.name=file", "--set", "data.path=text.csv"),
                          "text.csv", "'b'", "'oops' is not a number")
    np.savez(tmp_path / "counts.npz", x=np.zeros((10, 3)), y=np.zeros(9))
    assert_one_line_error(cli("train", "--set", "data.name=file", "--set", "data.path=counts.npz"),
                          "counts.npz", "10 rows", "9 labels")
    np.savez(tmp_path / "nox.npz", features=np.zeros((10, 3)), y=np.zeros(10))
    assert_one_line_error(cli("train", "--set", "data.name=file", "--set", "data.path=nox.npz"),
                          "nox.npz", "no array 'x'")


def test_run_directory_problems(cli, tmp_path):
    cli("train", *QUICK, "--out", "run")
    before = (tmp_path / "run/model.safetensors").read_bytes()
    assert_one_line_error(cli("train", *QUICK, "--out", "run"), "run already exists")
    assert (tmp_path / "run/model.safetensors").read_bytes() == before
    np.savez(tmp_path / "wide.npz", x=np.zeros((4, 65)))
    assert_one_line_error(cli("predict", "run", "wide.npz"), "wide.npz", "65 columns", "expects 64 features")
    (tmp_path / "run/model.safetensors").write_bytes(before[: len(before) // 2])
    assert_one_line_error(cli("eval", "run"), "model.safetensors", "not a valid safetensors file")
    (tmp_path / "run/model.safetensors").unlink()
    assert_one_line_error(cli("eval", "run"), "has no model.safetensors")


def test_datasets_and_config_listings(cli):
    listing = cli("datasets").out
    assert all(name in listing for name in ("digits", "bernoulli", "linear", "cifar10", "file"))
    assert "cifar-10-binary.tar.gz" in listing
    keys = cli("config", "--show").out
    assert "train.epochs = 30" in keys and "passes over the training data" in keys
    resolved = cli("config", "--set", "train.epochs=5").out
    assert "epochs: 5" in resolved


def test_help_teaches_the_keys(cli):
    result = cli("train", "--help")
    assert result.status == 0 and "model.hidden" in result.out and "--set KEY=VALUE" in result.out


def test_python_dash_m_and_the_console_script(tmp_path):
    result = subprocess.run([sys.executable, "-m", "redes", "config", "--set", "train.epochs=4"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "epochs: 4" in result.stdout
    script = subprocess.run([str(Path(sys.executable).parent / "redes"), "train", "--set", "train.epochs=nope"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert script.returncode == 2 and script.stderr.count("\n") == 1
    assert script.stderr.startswith("redes: error: ") and "train.epochs" in script.stderr


def test_import_is_fast_and_light():
    code = "import sys, redes; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


def in_a_terminal(code: str, cwd: Path) -> str:
    """`python -c code` with its stdout on a pseudo-terminal, as a user at a terminal runs redes; its stderr."""
    import pty
    import threading

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, stdout=follower, stderr=subprocess.PIPE,
                               text=True)
    os.close(follower)

    def drain() -> None:  # what the terminal shows, read so that the writer never blocks
        try:
            while os.read(leader, 65536):
                pass
        except OSError:  # the last writer closed it
            pass

    reader = threading.Thread(target=drain)
    reader.start()
    err = process.communicate()[1]
    reader.join()
    os.close(leader)
    return err


def test_a_default_run_imports_only_what_it_uses_and_at_a_terminal_leaves_its_pictures_to_another_process(
        tmp_path):
    """No scikit-learn or SciPy (the split and report are redes' own), no torch._dynamo or SymPy (eager
    optimizers), and at a terminal no matplotlib: the pictures are drawn after `redes train` has printed its
    results, by a process that holds the run's lock until they are written."""
    heavy = ("sklearn", "scipy", "scipy.stats", "torch._dynamo", "sympy", "matplotlib")
    code = ("import sys; from redes.cli.main import main; main(['train', '--set', 'train.epochs=1', '--out', 'r']); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)")
    assert in_a_terminal(code, tmp_path).splitlines()[-1] == "[]"
    with writing(tmp_path / "r"):  # waits for the drawing process
        pictures = sorted((tmp_path / "r/plots").iterdir())
    assert [p.name for p in pictures] == ["confusion_matrix.png", "learning_curves.png", "samples.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pictures)
    piped = subprocess.run([sys.executable, "-c", code.replace("'r'", "'piped'")], capture_output=True, text=True,
                           cwd=tmp_path)
    assert piped.stderr.splitlines()[-1] == "['matplotlib']"  # drawn before the command ends
    assert (tmp_path / "piped/plots/samples.png").is_file()


def test_plot_redraws_and_compare_shows_differences(cli, tmp_path):
    cli("train", *QUICK, "--out", "a")
    cli("train", *QUICK, "--set", "optimizer.lr=0.01", "--out", "b")
    (tmp_path / "a/plots/learning_curves.png").unlink()
    result = cli("plot", "a")
    assert result.status == 0 and (tmp_path / "a/plots/learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    table = cli("compare", "a", "b").out.splitlines()
    lr = next(line for line in table if line.startswith("optimizer.lr"))
    assert lr.split()[1:] == ["0.0010", "0.0100"]
    assert not any(line.startswith("model.hidden") for line in table)  # the same in both: not shown
    summary_a = json.loads((tmp_path / "a/summary.json").read_text())
    accuracy = next(line for line in table if line.startswith("test accuracy"))
    assert accuracy.split()[2] == f"{summary_a['test']['accuracy']:.4f}"
    data = json.loads(cli("compare", "a", "b", "--json").out)
    assert [d["config"]["optimizer"]["lr"] for d in data] == [0.001, 0.01]
    assert_one_line_error(cli("compare", "a", "nothing"), "run directory nothing does not exist")
