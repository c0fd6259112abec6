"""The export's ceiling: true objects exported as users' objects are come back close to their shapes."""

from __future__ import annotations

import json

import pytest

from evaluation.export_ceiling import default_prompts, export_ceiling, main


def test_default_prompts_cover_every_shape_and_a_stack() -> None:
    texts = default_prompts()
    assert {t.split()[-1] for t in texts[:-1]} == {"cube", "sphere", "cylinder", "cone", "torus", "octahedron",
                                                    "star", "cross"}  # fmt: skip
    assert " on top of " in texts[-1]


def test_a_true_cube_exports_as_itself(tmp_path) -> None:
    (cube,) = export_ceiling(["a red cube"], resolution=64)
    assert cube["mesh_iou"] > 0.9 and cube["chamfer"] < 0.03  # a solid box, not a shell or a blob
    assert cube["convexity_gap"] < 0.05 and cube["colour_error"] < 0.05  # its faces flat, its red kept
    main(["--prompts", "a red cube", "--resolution", "64", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "results.json").read_text())[0]["mesh_iou"] == pytest.approx(cube["mesh_iou"])
    assert "| **mean of 1** |" in (tmp_path / "table.md").read_text()


@pytest.mark.parametrize("argv", [["--prompts", "a zebra"], ["--resolution", "8"]])
def test_bad_input_is_refused(argv, capsys) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    assert "error:" in capsys.readouterr().err
