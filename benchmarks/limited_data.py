"""Limited-data image table (scratch vs SSAT vs pre-training → fine-tuning); a thin wrapper of
`deepfake-ssat benchmark limited-data`, taking the same arguments, e.g.

    python benchmarks/limited_data.py --config image/fashion_mnist_limited --seeds 0 1 2 --out runs/limited_fmnist
"""

import sys

from deepfake_ssat.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "limited-data", *sys.argv[1:]]))
