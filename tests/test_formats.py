"""archc.formats: the one writer of each number and shape form (values checked by hand)."""
import math

import pytest

from archc.formats import format_macs, percent, shape_text, si


def test_shapes_in_their_three_forms():
    assert shape_text((256, 56, 56)) == "256x56x56"
    assert shape_text((256, 56, 56), "spaced") == "256 x 56 x 56"
    assert shape_text((1000,), "times") == "1000"
    with pytest.raises(KeyError):
        shape_text((1,), "dots")


def test_macs_si_and_percents():
    assert format_macs(4_089_184_256) == "4.089 GMACs" and format_macs(322) == "322 MACs"
    assert si(1_234_567) == "1.23M" and si(999) == "999"
    assert percent(0.4412) == "44.1%" and percent(0.4412, significant=4) == "44.12%"
    assert percent(math.nan) == "n/a"
