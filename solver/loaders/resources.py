"""Where the bundled data lives: the GPU catalog (`gpu_pools/`), the scenario presets (`configs/`) and the published
measurements (`results/calibration/`).

In the repository they stay at the top level, where the design card puts them. A wheel carries them inside the
package as `solver/_data/<name>` (pyproject maps the folders there), read through importlib.resources; a checkout
or an editable install has no `_data` and reads the top-level folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED = {"gpu_pools": "gpu_pools", "configs": "configs", "calibration": "results/calibration"}


def bundled_dir(name: str) -> Path:
    """The folder of bundled data `name` (a key of BUNDLED)."""
    packaged = resources.files("solver").joinpath("_data", name)
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / BUNDLED[name]
