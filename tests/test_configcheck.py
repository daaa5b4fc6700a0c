"""pyulm.nn.configcheck.check_fields: one table of a training config, judged by its defaults' types."""
from dataclasses import dataclass

import pytest

from pyulm.nn.configcheck import check_fields


@dataclass(frozen=True)
class Settings:
    steps: int = 10
    hold: int = 0
    lr: float = 1e-3
    device: str = "cpu"
    flag: bool = False
    window: tuple = (1.0, 2)
    milestones: tuple = ()


def test_values_pass_typed_and_only_given_fields_return():
    out = check_fields(Settings, {"steps": 3, "lr": 1, "window": [0.5, 4], "flag": True}, "cfg [train]",
                       numeric_tuples=True)
    assert out == {"steps": 3, "lr": 1.0, "window": (0.5, 4), "flag": True}
    assert isinstance(out["lr"], float) and isinstance(out["window"][0], float)
    assert Settings(**out).steps == 3


@pytest.mark.parametrize("table, kw, message", [
    ({"step": 1}, {}, r"cfg \[train\]: unknown field\(s\) \['step'\]; expected some of"),
    ({"steps": 0}, {}, r"cfg \[train\]\.steps: expected a whole number >= 1, got 0"),
    ({"steps": True}, {}, r"\.steps: expected a whole number >= 1"),
    ({"hold": -1}, {"zero_ok": ("hold",)}, r"\.hold: expected a whole number >= 0"),
    ({"lr": 0}, {"positive": True}, r"\.lr: expected a finite number > 0"),
    ({"lr": float("nan")}, {}, r"\.lr: expected a finite number >= 0"),
    ({"device": 3}, {}, r"\.device: expected a string"),
    ({"flag": 1}, {}, r"\.flag: expected true or false"),
    ({"window": [1.0]}, {"numeric_tuples": True}, r"\.window: expected 2 finite numbers"),
    ({"milestones": ["a"]}, {"numeric_tuples": True, "variable_length": ("milestones",)},
     r"\.milestones: expected a list of finite numbers"),
    ({"window": 3}, {}, r"\.window: expected a list"),
])
def test_bad_values_name_the_field(table, kw, message):
    with pytest.raises(ValueError, match=message):
        check_fields(Settings, table, "cfg [train]", **kw)


def test_zero_allowed_only_where_asked_and_special_rules_win():
    assert check_fields(Settings, {"hold": 0}, "w", zero_ok=("hold",)) == {"hold": 0}
    with pytest.raises(ValueError, match="w.hold: expected a whole number >= 1"):
        check_fields(Settings, {"hold": 0}, "w")

    def device(v, name):
        if v not in ("cpu", "cuda"):
            raise ValueError(f"{name}: expected cpu or cuda, got {v!r}")
        return v
    assert check_fields(Settings, {"device": "cuda"}, "w", special={"device": device}) == {"device": "cuda"}
    with pytest.raises(ValueError, match="w.device: expected cpu or cuda"):
        check_fields(Settings, {"device": ""}, "w", special={"device": device})
    with pytest.raises(ValueError, match="w: expected a table"):
        check_fields(Settings, [1], "w")


def test_input_table_is_not_modified():
    table = {"window": [1, 2]}
    check_fields(Settings, table, "w", numeric_tuples=True)
    assert table == {"window": [1, 2]}


BOUNDS = {"steps": (1, 1024), "hold": (None, 5), "lr": (1e-7, 1.0)}


def test_values_in_bounds_pass_with_their_type_and_the_ends_are_inclusive():
    out = check_fields(Settings, {"steps": 1024, "hold": -3, "lr": 1}, "w", bounds=BOUNDS)
    assert out == {"steps": 1024, "hold": -3, "lr": 1.0}  # hold: the low side is open
    assert isinstance(out["steps"], int) and isinstance(out["lr"], float)
    assert check_fields(Settings, {"steps": 1, "lr": 1e-7}, "w", bounds=BOUNDS) == {"steps": 1, "lr": 1e-7}
    assert check_fields(Settings, {"lr": 1e9}, "w", bounds={"lr": (0.0, None)}) == {"lr": 1e9}  # high side open
    assert check_fields(Settings, {"lr": -2.5}, "w", bounds={"lr": (None, None)}) == {"lr": -2.5}


@pytest.mark.parametrize("table, bounds, message", [
    ({"steps": 0}, BOUNDS, r"^w\.steps: expected a whole number in \[1, 1024\], got 0$"),
    ({"steps": 1025}, BOUNDS, r"^w\.steps: expected a whole number in \[1, 1024\], got 1025$"),
    ({"hold": 6}, BOUNDS, r"^w\.hold: expected a whole number <= 5, got 6$"),
    ({"steps": 2.0}, BOUNDS, r"^w\.steps: expected a whole number in \[1, 1024\], got 2\.0$"),  # ints stay ints
    ({"steps": True}, BOUNDS, r"^w\.steps: expected a whole number in \[1, 1024\], got True$"),
    ({"lr": 0}, BOUNDS, r"^w\.lr: expected a number in \[1e-07, 1\.0\], got 0$"),
    ({"lr": 1.5}, BOUNDS, r"^w\.lr: expected a number in \[1e-07, 1\.0\], got 1\.5$"),
    ({"lr": -1}, {"lr": (0.0, None)}, r"^w\.lr: expected a number >= 0\.0, got -1$"),
    ({"lr": float("inf")}, {"lr": (0.0, None)}, r"^w\.lr: expected a number >= 0\.0, got inf$"),
    ({"lr": float("nan")}, {"lr": (None, None)}, r"^w\.lr: expected a number, got nan$"),
    ({"lr": True}, BOUNDS, r"^w\.lr: expected a number in \[1e-07, 1\.0\], got True$"),
    ({"lr": "0.1"}, BOUNDS, r"^w\.lr: expected a number in"),
])
def test_values_out_of_bounds_are_refused_with_the_range(table, bounds, message):
    with pytest.raises(ValueError, match=message):
        check_fields(Settings, table, "w", bounds=bounds)


def test_bounds_replace_the_default_rule_only_for_their_fields():
    # zero_ok / positive give way to a field's bounds, and still rule the others
    assert check_fields(Settings, {"hold": 0}, "w", bounds={"hold": (0, 3)}) == {"hold": 0}
    with pytest.raises(ValueError, match=r"^w\.steps: expected a whole number >= 1, got 0$"):
        check_fields(Settings, {"steps": 0, "hold": 0}, "w", bounds={"hold": (0, 3)})
    assert check_fields(Settings, {"lr": 0}, "w", positive=True, bounds={"lr": (0.0, 1.0)}) == {"lr": 0.0}


def test_bounds_on_a_field_that_is_no_number_is_the_callers_mistake():
    for bad in ({"device": (0, 1)}, {"flag": (0, 1)}, {"window": (0, 1)}, {"stpes": (1, 2)}):
        with pytest.raises(TypeError, match="bounds for"):
            check_fields(Settings, {}, "w", bounds=bad)
