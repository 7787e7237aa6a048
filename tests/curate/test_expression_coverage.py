"""Expression measures (ratios of landmark distances to the eye distance) and expression coverage."""
import numpy as np
import pytest

from faceplate.curate.expression import MEASURE_NAMES, expression_coverage, measures
from faceplate.errors import InputError


def _face(open_=0.0, width=0.55, lift=0.0, eye=0.08, scale=100.0, angle=0.0) -> np.ndarray:
    """468 points: only the ones the measures read are placed (eye distance 1 before scaling)."""
    p = np.zeros((468, 2))
    p[33], p[263] = (-0.5, 0.0), (0.5, 0.0)
    p[13], p[14] = (0.0, 0.8), (0.0, 0.8 + open_)
    p[61], p[291] = (-width / 2, 0.8 - lift), (width / 2, 0.8 - lift)
    for up, low, x in ((159, 145, -0.3), (386, 374, 0.3)):
        p[up], p[low] = (x, -eye / 2), (x, eye / 2)
    c, s = np.cos(angle), np.sin(angle)
    return p @ np.array([[c, s], [-s, c]]) * scale + 500.0


def test_measures_are_ratios_to_the_eye_distance():
    m = measures(_face(open_=0.2, width=0.6, lift=0.05, eye=0.07))
    assert m == pytest.approx({"mouth_open": 0.2, "mouth_width": 0.6, "smile": 0.05, "eye_open": 0.07})
    turned = measures(_face(open_=0.2, width=0.6, lift=0.05, eye=0.07, scale=37.0, angle=0.4))
    assert turned == pytest.approx(m)
    assert set(m) == set(MEASURE_NAMES)


def test_bad_landmarks():
    with pytest.raises(InputError, match="468"):
        measures(np.zeros((68, 2)))
    bad = _face()
    bad[13] = np.nan
    with pytest.raises(InputError, match="finite"):
        measures(bad)
    with pytest.raises(InputError, match="coincide"):
        measures(np.zeros((468, 2)))
    with pytest.raises(InputError, match="at least one face"):
        expression_coverage([], [_face()])


def test_coverage_names_what_b_lacks():
    b = [_face(), _face(open_=0.02)]
    a = [_face(), _face(open_=0.25), _face(lift=0.08), _face(eye=0.01)]
    cov = expression_coverage(a, b)
    missing = {m["expression"]: m["a_faces"] for m in cov["missing"]}
    assert missing == {"open mouth": 1, "smile": 1, "blink": 1}
    assert cov["suggest"] == "--expressions b"
    assert cov["measures"]["mouth_open"]["a"] == pytest.approx([0.0, 0.0, 0.25])
    # B shows them all: nothing missing; small differences are not expressions
    assert expression_coverage(a[:1] + [_face(open_=0.03, lift=0.01)], b + a[1:])["missing"] == []
    assert expression_coverage([_face(width=0.62)], b)["suggest"] == ""  # a wider mouth alone is a person
    assert expression_coverage([_face(width=0.7)], b)["missing"][0]["expression"] == "smile"
