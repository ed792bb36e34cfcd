"""The shared gradient checker: every manual layer, loss and penalty is tested against autograd in float64
on hypothesis-generated shapes, and deliberately wrong gradients fail."""

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redes.cli.main import main
from redes.errors import RedesError
from redes.study.gradcheck import (CheckResult, check_builtins, check_layer, format_table, gradcheck, load_user_layer,
                             parse_shape, report_dict)

from redes.nn.activations import ACTIVATIONS  # noqa: E402

ACTIVATION_CASES = {kind.__name__ + variant for kind in ACTIVATIONS.values() if kind.hand_written
                    for variant in ("", "(recompute)")[:1 + (kind.recompute is not None)]}
BUILTINS = ACTIVATION_CASES | {"Linear", "BatchNorm", "Dropout", "BCE", "SigmoidBCE", "SigmoidBCE(recompute)",
                               "SoftmaxCrossEntropy", "MSE", "WeightPenalty(l1)", "WeightPenalty(l2)",
                               "WeightPenalty(l1+l2)"}
assert {"Sigmoid", "Sigmoid(recompute)", "Tanh", "Tanh(recompute)", "ReLU", "LeakyReLU", "HardSigmoid", "ELU", "SELU",
        "SiLU", "Softplus", "Identity"} <= ACTIVATION_CASES

DOC = Path(__file__).parent.parent / "docs" / "gradcheck.md"
USER_LAYERS = '''
import numpy as np


class Cube:
    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, dy):
        return 3 * self.x ** 2 * dy


class WrongCube(Cube):
    def backward(self, dy):
        return dy * 2 * self.x


class Scale:
    def __init__(self, n=5):
        self.w = np.ones(n)
        self.params, self.grads = {"w": self.w}, {}

    def forward(self, x):
        self.x = x
        return x * self.w

    def backward(self, dy):
        self.grads = {"w": (dy * self.x).sum(axis=0)}
        return dy * self.w


class ScaleNoSum(Scale):
    def backward(self, dy):
        self.grads = {"w": dy * self.x}  # forgot the sum over the batch
        return dy * self.w


class ScaleForgetsW(Scale):
    def backward(self, dy):
        self.grads = {"w": (dy * self.x).sum(axis=0)}
        return dy  # right only where w == 1, as it is at construction


class DenseTransposed:
    def __init__(self):
        self.params, self.grads = {"W": np.zeros((5, 5))}, {}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"].T

    def backward(self, dy):
        self.grads = {"W": self.x.T @ dy}  # should be dy.T @ x
        return dy @ self.params["W"]
'''


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text(USER_LAYERS)
    return path


def check_user(path, name, shape=(4, 5)):
    factory, label = load_user_layer(f"{path}:{name}")
    return check_layer(factory, label, shape)


def by_check(results):
    return {(r.check, r.method): r for r in results}


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_every_builtin_check_passes(backend):
    results = check_builtins(backend=backend)
    assert all(r.passed for r in results), format_table(results)
    assert {r.name for r in results} == BUILTINS
    for name in BUILTINS:  # the forward output and every gradient, both ways
        methods = {(r.check, r.method) for r in results if r.name == name}
        gradients = {check for check, method in methods if method == "finite differences"}
        assert methods == {("forward", "autograd")} | {(g, m) for g in gradients
                                                       for m in ("autograd", "finite differences")}
    assert {r.check for r in results if r.name in ("Linear", "BatchNorm")} == {
        "forward", "dx", "grad[weight]", "grad[bias]"}
    assert format_table(results).splitlines()[-1] == f"all {len(results)} checks passed"


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 6), width=st.integers(1, 7), seed=st.integers(0, 2**32 - 1),
       backend=st.sampled_from(["numpy", "torch"]))
def test_every_builtin_passes_on_hypothesis_shapes(batch, width, seed, backend):
    results = check_builtins((batch, width), seed, backend)
    assert all(r.passed for r in results), format_table(results)


def test_results_are_reproducible_and_json_ready():
    first, again = check_builtins(), gradcheck()  # `redes gradcheck` with no argument: the same seed
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    report = json.loads(json.dumps(report_dict(first), allow_nan=False))
    assert report["passed"] is True and report["failed"] == 0 and len(report["checks"]) == len(first)
    assert set(report["checks"][0]) == {"name", "check", "method", "max_abs_error", "max_rel_error", "passed", "note"}


def test_a_right_user_layer_passes_and_a_wrong_one_fails(user_file):
    right = check_user(user_file, "Cube")
    assert [(r.name, r.check, r.method, r.passed) for r in right] == [
        ("layers.py:Cube", "dx", "finite differences", True)]
    wrong = check_user(user_file, "WrongCube")
    assert not wrong[0].passed and wrong[0].max_rel_error > 0.1
    table = format_table(right + wrong)
    assert "FAIL" in table and table.splitlines()[-1] == (
        "1 of 2 checks FAILED: layers.py:WrongCube dx (finite differences)")
    assert [r.to_dict() for r in gradcheck(f"{user_file}:Cube")] == [r.to_dict() for r in right]


def test_a_layer_with_parameters_is_checked_on_each(user_file):
    assert all(r.passed for r in check_user(user_file, "Scale"))
    no_sum = by_check(check_user(user_file, "ScaleNoSum"))
    assert no_sum["dx", "finite differences"].passed
    failed = no_sum["grad[w]", "finite differences"]
    assert not failed.passed and failed.note == "shape (4, 5), expected (5,)" and failed.max_abs_error is None
    assert "grad[w]" in format_table(list(no_sum.values())).splitlines()[-1]


def test_parameters_are_randomised_so_a_missing_factor_shows(user_file):
    results = by_check(check_user(user_file, "ScaleForgetsW"))
    assert not results["dx", "finite differences"].passed
    assert results["grad[w]", "finite differences"].passed


def test_a_transposed_gradient_fails(user_file):
    results = by_check(check_user(user_file, "DenseTransposed"))
    assert results["dx", "finite differences"].passed
    assert not results["grad[W]", "finite differences"].passed


def test_the_documented_examples_print_the_documented_tables(tmp_path, monkeypatch):
    doc = DOC.read_text()
    right, wrong = re.findall(r"```python\n(.*?)```", doc, re.S)[:2]
    (tmp_path / "my_layer.py").write_text(right)
    (tmp_path / "wrong_layer.py").write_text(wrong)
    monkeypatch.chdir(tmp_path)
    for spec, passed in [("my_layer.py:Square", True), ("my_layer.py:Scale", True),
                         ("wrong_layer.py:Square", False), ("wrong_layer.py:Scale", False)]:
        results = gradcheck(spec)
        assert all(r.passed for r in results) is passed
        assert f"$ redes gradcheck {spec}\n{format_table(results)}\n" in doc


def test_a_wrong_builtin_backward_is_caught(monkeypatch):
    from redes.nn import activations

    monkeypatch.setattr(activations.Tanh, "backward", lambda self, dy: dy * (1 - self.h))  # forgot the square
    results = check_builtins()
    failed = {(r.name, r.check, r.method) for r in results if not r.passed}
    assert failed == {(name, "dx", method) for name in ("Tanh", "Tanh(recompute)")
                      for method in ("autograd", "finite differences")}
    assert "4 of" in format_table(results).splitlines()[-1] and "Tanh dx (autograd)" in format_table(results)


def test_a_wrong_builtin_loss_gradient_is_caught(monkeypatch):
    from redes.nn import losses

    monkeypatch.setattr(losses.MSE, "backward", lambda self: self.diff / self.diff.size)  # lost the factor 2
    failed = {(r.name, r.check) for r in check_builtins() if not r.passed}
    assert failed == {("MSE", "dx")}


@pytest.mark.parametrize("spec, message", [
    ("layers.py", "expected FILE.py:CLASS"),
    ("{dir}/missing.py:Cube", "missing.py: no such file"),
    ("{dir}/notes.txt:Cube", "notes.txt is not a Python file (.py)"),
    ("{dir}/broken.py:Cube", "broken.py: importing it raised SyntaxError"),
    ("{dir}/layers.py:Nope", "defines no class 'Nope'; classes defined there: Cube, WrongCube, Scale, ScaleNoSum, "
                             "ScaleForgetsW, DenseTransposed"),
    ("{dir}/odd.py:np", "odd.py defines no class 'np'; classes defined there: NeedsArgument, NoBackward"),
    ("{dir}/odd.py:NeedsArgument", "odd.py:NeedsArgument: constructing it raised TypeError"),
    ("{dir}/odd.py:NoBackward", "odd.py:NoBackward has no backward method"),
    ("{dir}/params.py:NoGrads", "params.py:NoGrads has params but no grads"),
    ("{dir}/params.py:ListParams", "params.py:ListParams.params must be a dict of NumPy arrays, not list"),
    ("{dir}/params.py:Float32", "params.py:Float32.params['w'] must be a float64 NumPy array (it is perturbed in "
                                "place), not ndarray of float32"),
])
def test_load_user_layer_errors_name_the_file_and_class(tmp_path, user_file, spec, message):
    (tmp_path / "notes.txt").write_text("class Cube: pass\n")
    (tmp_path / "broken.py").write_text("class Cube(:\n")
    (tmp_path / "odd.py").write_text(textwrap.dedent("""
        import numpy as np
        class NeedsArgument:
            def __init__(self, n): ...
            def forward(self, x): ...
            def backward(self, dy): ...
        class NoBackward:
            def forward(self, x): ...
    """))
    (tmp_path / "params.py").write_text(textwrap.dedent("""
        import numpy as np
        class Base:
            def forward(self, x): ...
            def backward(self, dy): ...
        class NoGrads(Base):
            params = {"w": np.ones(3)}
        class ListParams(Base):
            params, grads = [np.ones(3)], {}
        class Float32(Base):
            params, grads = {"w": np.ones(3, dtype=np.float32)}, {}
    """))
    with pytest.raises(RedesError, match=re.escape(message)):
        load_user_layer(spec.format(dir=tmp_path))


@pytest.mark.parametrize("body, message", [
    ("def forward(self, x):\n    return x @ np.ones((3, 3))",
     r"bad.py:Bad: forward raised ValueError: .* on an input of shape \(4, 5\); if the layer expects another "
     r"shape, pass --shape B,N"),
    ("def forward(self, x):\n    return x.tolist()", r"bad.py:Bad: forward returned list, not a float64 NumPy array"),
    ("def forward(self, x):\n    return x.astype(np.float32)", r"forward returned ndarray of float32, not a float64"),
    ("def forward(self, x):\n    return x", r"bad.py:Bad: backward raised KeyError: 'oops'"),
])
def test_check_layer_errors_say_what_the_layer_did(tmp_path, body, message):
    backward = "raise KeyError('oops')" if "oops" in message else "return dy"
    methods = textwrap.indent(f"{body}\n\ndef backward(self, dy):\n    {backward}\n", "    ")
    (tmp_path / "bad.py").write_text(f"import numpy as np\n\nclass Bad:\n{methods}")
    factory, name = load_user_layer(f"{tmp_path}/bad.py:Bad")
    with pytest.raises(RedesError, match=message):
        check_layer(factory, name, (4, 5))


@pytest.mark.parametrize("text, shape", [("4,5", (4, 5)), (" 1, 7 ", (1, 7)), ("32,784", (32, 784))])
def test_parse_shape(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["4", "4,5,6", "a,b", "4.5,2", "0,5", "3,-1", ""])
def test_parse_shape_refuses_bad_text(text):
    with pytest.raises(RedesError, match=r"--shape must be B,N: two positive integers such as 4,5 \(batch, width\), "
                                         rf"got '{text}'"):
        parse_shape(text)


@pytest.mark.parametrize("shape", [(0, 5), (4,), (4, 5, 6), (2.0, 3)])
def test_check_functions_refuse_a_bad_shape(shape):
    with pytest.raises(RedesError, match="shape must be \\(batch, width\\), two positive integers"):
        check_builtins(shape)


def test_check_builtins_refuses_an_unknown_backend():
    with pytest.raises(RedesError, match="backend must be numpy or torch, got 'jax'"):
        check_builtins(backend="jax")


def test_format_table_shows_missing_numbers_and_notes():
    table = format_table([CheckResult("f.py:L", "grad[w]", "finite differences", None, None, False, "NaN or inf")])
    row = table.splitlines()[2]
    assert row.split() == ["f.py:L", "grad[w]", "finite", "differences", "-", "-", "FAIL", "NaN", "or", "inf"]



@pytest.mark.parametrize("shape, message", [
    ((100000, 100000), "--shape 100000,100000: the built-in Linear's weight (100001x100000) would have "
                       "10,000,100,000 elements (80 GB in float64); gradcheck draws every array whole and runs the "
                       "forward pass 40 times per input, use at most 1,000,000 elements, a width of at most 999"),
    ((1, 1000), "--shape 1,1000: the built-in Linear's weight (1001x1000) would have 1,001,000 elements"),
    ((2000, 999), "--shape 2000,999: the input would have 1,998,000 elements (0.016 GB in float64)"),
])
def test_check_builtins_refuses_a_shape_too_large_before_drawing_it(shape, message):
    with pytest.raises(RedesError, match=re.escape(message)):
        check_builtins(shape)


def test_a_user_layer_may_be_wide_but_not_larger_than_the_limit(user_file):
    assert all(r.passed for r in check_user(user_file, "Cube", (1, 1_000_000)))
    too_large = re.escape("--shape 100000,100000: the input would have 10,000,000,000 elements (80 GB in float64)")
    with pytest.raises(RedesError, match=too_large + ".* use at most 1,000,000 elements$"):
        check_user(user_file, "Cube", (100000, 100000))


def test_the_cli_refuses_a_huge_shape_in_one_line(capsys):
    status = main(["gradcheck", "--shape", "100000,100000"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("redes: error: --shape 100000,100000: ") and "use at most 1,000,000 elements" in err


@pytest.mark.parametrize("source, message", [
    ("import sys\nsys.exit(0)\n", "the module exited (sys.exit(0)) while being imported; gradcheck needs a module "
                                  "that defines Cube"),
    ("raise SystemExit\n", "the module exited (sys.exit()) while being imported"),
    ("raise SystemExit('bye')\n", "the module exited (sys.exit('bye')) while being imported"),
    ("class Stop(BaseException):\n    pass\nraise Stop('now')\n", "importing it raised Stop: now"),
    ("raise ValueError('no data here')\n", "importing it raised ValueError: no data here"),
])
def test_a_module_that_ends_its_own_import_is_one_error(tmp_path, capsys, source, message):
    (tmp_path / "user.py").write_text(source)
    with pytest.raises(RedesError, match=re.escape(f"{tmp_path / 'user.py'}: {message}")):
        load_user_layer(f"{tmp_path}/user.py:Cube")
    assert "_redes_user_user" not in sys.modules
    status = main(["gradcheck", f"{tmp_path}/user.py:Cube"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"redes: error: {tmp_path / 'user.py'}: {message}")


def test_ctrl_c_while_importing_a_module_stays_an_interrupt(tmp_path, capsys):
    (tmp_path / "user.py").write_text("raise KeyboardInterrupt\n")
    assert main(["gradcheck", f"{tmp_path}/user.py:Cube"]) == 130
    assert capsys.readouterr().err == "redes: interrupted\n"
    assert "_redes_user_user" not in sys.modules


def test_a_layer_that_exits_while_checked_is_one_error(tmp_path):
    (tmp_path / "quits.py").write_text("import sys\n\nclass Quits:\n    def forward(self, x):\n        sys.exit(1)\n\n"
                                       "    def backward(self, dy):\n        return dy\n")
    factory, name = load_user_layer(f"{tmp_path}/quits.py:Quits")
    with pytest.raises(RedesError, match=re.escape("quits.py:Quits: forward exited (sys.exit(1)) on an input")):
        check_layer(factory, name)
