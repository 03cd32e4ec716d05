"""Every documented default is the code's default.

The numpydoc ``Parameters`` section of every public estimator and GP kernel
(discovered from ``sklearn_ntk.__all__``, so that classes added later are
covered) must document each constructor parameter with a literal
``default=...`` equal to ``get_params()`` of a default instance.
"""

import ast
import inspect
import re

import pytest

import sklearn_ntk

_SECTION = re.compile(r"^(\s*)Parameters\n\1-{3,}\n", re.MULTILINE)
_HEADER = re.compile(r"^\s*\S.*\n\s*-{3,}\s*$", re.MULTILINE)


def _public_classes():
    return [getattr(sklearn_ntk, name) for name in sklearn_ntk.__all__
            if inspect.isclass(getattr(sklearn_ntk, name))
            and hasattr(getattr(sklearn_ntk, name), "get_params")]


def documented_defaults(docstring):
    """``{name: default text}`` from a numpydoc Parameters section.

    A parameter line is ``name : type, default=value`` at the section's
    indentation; ``a, b : type, default=x, y`` documents two parameters.
    Parameters without ``default=`` map to None.
    """
    match = _SECTION.search(docstring)
    if match is None:
        return {}
    indent, body = match.group(1), docstring[match.end():]
    end = _HEADER.search(body)
    body = body[:end.start()] if end else body
    defaults = {}
    for line in body.splitlines():
        entry = re.match(rf"^{indent}(\w+(?:, \w+)*) :(.*)$", line)
        if entry is None:
            continue
        names = entry.group(1).split(", ")
        default = re.search(r"\bdefault=(.*)$", entry.group(2))
        text = default.group(1).strip() if default else None
        if text is not None and len(names) > 1:
            values = ast.literal_eval(f"({text},)")
            assert len(values) == len(names), line
            defaults.update({n: repr(v) for n, v in zip(names, values)})
        else:
            defaults.update({n: text for n in names})
    return defaults


def test_parser_reads_numpydoc_defaults():
    doc = '''Summary.

    Parameters
    ----------
    depth : int, default=2
        Text that mentions default=7 in passing.
    activation : {"relu", "erf"}, default="relu"
    bounds : pair of floats or "fixed", default=(1e-2, 1e2)
    a, b : float, default=1.5, None
    required : int

    Returns
    -------
    other : int, default=3
    '''
    assert documented_defaults(doc) == {
        "depth": "2", "activation": '"relu"', "bounds": "(1e-2, 1e2)",
        "a": "1.5", "b": "None", "required": None}


CLASSES = _public_classes()


def test_every_public_estimator_and_kernel_is_checked():
    names = {cls.__name__ for cls in CLASSES}
    assert {"NTKRegressor", "NNGPRegressor", "NTKClassifier", "NNGPClassifier",
            "LinearizedMLP", "NTKKernel", "NNGPKernel"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_documented_defaults_are_the_defaults(cls):
    params = cls().get_params(deep=False)
    documented = documented_defaults(inspect.getdoc(cls) or "")
    missing = sorted(set(params) - set(documented))
    assert not missing, f"{cls.__name__}: parameters not documented: {missing}"
    for name, value in params.items():
        text = documented[name]
        assert text is not None, f"{cls.__name__}.{name}: no 'default=' in its docstring"
        try:
            expected = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            pytest.fail(f"{cls.__name__}.{name}: default={text} is not a literal")
        assert type(expected) is type(value) or {type(expected), type(value)} <= {int, float}, (
            f"{cls.__name__}.{name}: documented default={text}, code {value!r}")
        assert expected == value, (
            f"{cls.__name__}.{name}: documented default={text}, code {value!r}")
