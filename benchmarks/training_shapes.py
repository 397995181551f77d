"""Making the real-heart training shapes: the deformation lattice upsampled one axis at a time against scipy's 3D zoom.

``cardiosr.mesh_hearts.mesh_training_data`` (the ``--mesh-shapes`` of ``cardiosr train-prior``) makes every shape with
a smooth random deformation whose 4×6×6 lattice is upsampled cubically to the canonical grid. This script makes the
same ``--shapes`` shapes twice, with :func:`cardiosr.mesh_hearts.upsampled_cubic` (shipped) and with
``scipy.ndimage.zoom(order=3, mode="nearest")`` (before), on all cores, and reports the wall time of each (loading
the 26 hearts in every worker included) and the number of voxels that differ between the two sets.

    python benchmarks/training_shapes.py                  # the 250 shapes of the shipped prior
    python benchmarks/training_shapes.py --shapes 26 --no-write
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _report import SHARED, report
from scipy import ndimage

from cardiosr import mesh_hearts


def zoomed(values: np.ndarray, shape) -> np.ndarray:
    """The former upsampling: scipy's 3D cubic zoom."""
    return ndimage.zoom(values, [n / m for n, m in zip(shape, values.shape, strict=True)], order=3, mode="nearest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=250, help="training shapes to make (default 250)")
    parser.add_argument("--section", default="training-shapes")
    parser.add_argument("--title", default="Making the real-heart training shapes (issue 15)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    shipped = mesh_hearts.upsampled_cubic
    sets, seconds = {}, {}
    for name, upsample in (("one axis at a time (shipped)", shipped), ("scipy 3D zoom (before)", zoomed)):
        mesh_hearts.upsampled_cubic = upsample  # the workers are forked from this process and see it
        t0 = time.perf_counter()
        sets[name] = mesh_hearts.mesh_training_data(args.shapes, SHARED, progress=False)
        seconds[name] = time.perf_counter() - t0
    mesh_hearts.upsampled_cubic = shipped
    first, second = sets.values()
    differ = int((first != second).sum())
    rows = [[name, str(args.shapes), f"{sec:.0f}", str(differ)] for name, sec in seconds.items()]
    header = ["lattice upsampling", "shapes", "wall s", "voxels that differ between the two sets"]
    intro = __doc__.split("\n\n")[1].replace("\n", " ")
    print(report(args.section, args.title, header, rows, intro, write=not args.no_write))


if __name__ == "__main__":
    main()
