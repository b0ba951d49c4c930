"""FF++ cross-manipulation + zero-shot table (the paper's Table 8); a thin wrapper of
`deepfake-ssat benchmark cross-manipulation`, taking the same arguments, e.g.

    python benchmarks/cross_manipulation.py --ffpp data/ffpp_faces --init runs/dfdc/best.pt \
        --configs benchmarks/configs/ssat_095.yaml benchmarks/configs/scratch.yaml
"""

import sys

from deepfake_ssat.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "cross-manipulation", *sys.argv[1:]]))
