import argparse

import pytest

from faceplate.errors import InputError
from faceplate.params import Param, add_arguments, collect

PARAMS = [
    Param("feather", "float", 4.0, "Feather", "soft edge in plate pixels", minimum=0.0, maximum=200.0),
    Param("face_index", "int", 0, "Face", "which face", minimum=0),
    Param("colour_match", "choice", "meanstd", "Colour match", "how", choices=("none", "meanstd")),
    Param("comp", "bool", False, "Comp", "write the comp"),
]


def test_flags_generated_and_defaults_filled():
    parser = argparse.ArgumentParser()
    add_arguments(parser, PARAMS)
    args = parser.parse_args(["--feather", "2.5", "--comp", "--colour-match", "none"])
    assert collect(PARAMS, args) == {"feather": 2.5, "face_index": 0, "colour_match": "none", "comp": True}
    assert collect(PARAMS, parser.parse_args([])) == {"feather": 4.0, "face_index": 0, "colour_match": "meanstd", "comp": False}


@pytest.mark.parametrize("values, message", [
    ({"feather": "soft"}, r"--feather: expected a float, found 'soft'"),
    ({"feather": -1}, r"--feather: expected >= 0.0, found -1.0"),
    ({"feather": 500}, r"--feather: expected <= 200.0"),
    ({"colour_match": "magic"}, r"--colour-match: expected one of none, meanstd, found 'magic'"),
    ({"comp": "maybe"}, r"--comp: expected a bool"),
])
def test_bad_values_name_the_parameter(values, message):
    with pytest.raises(InputError, match=message):
        collect(PARAMS, values)


def test_to_dict_is_json_ready():
    d = PARAMS[2].to_dict()
    assert d["flag"] == "--colour-match" and d["choices"] == ["none", "meanstd"]


def test_settings_objects_agree_with_their_declarations():
    """Render and training settings are frozen dataclasses next to their Param lists: the two must
    not drift (same names, same defaults), since CLI flags and Natron knobs come from the Params."""
    import dataclasses

    from faceplate.render.settings import RENDER_PARAMS, RenderSettings
    from faceplate.train.config import TRAIN_PARAMS, TrainConfig

    for params, cls in ((RENDER_PARAMS, RenderSettings), (TRAIN_PARAMS, TrainConfig)):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for p in params:
            assert p.name in fields, f"{cls.__name__} lacks {p.name}"
            f = fields[p.name]
            if f.default is not dataclasses.MISSING and p.default not in (None, ""):
                assert f.default == p.default, f"{cls.__name__}.{p.name}: {f.default!r} != Param {p.default!r}"
