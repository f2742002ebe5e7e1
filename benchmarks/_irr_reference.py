"""The reference for ``python -m benchmarks irr``: what an analyst would run instead of irr.

``python benchmarks/_irr_reference.py FILE.csv``: pandas.read_csv, a pivot to raters x units,
krippendorff.alpha at the four levels; prints one JSON object {level: alpha}.
"""

import json
import sys

import krippendorff
import pandas as pd

frame = pd.read_csv(sys.argv[1])
wide = frame.pivot(index="rater", columns="unit", values="value").to_numpy(dtype=float)
print(json.dumps({level: krippendorff.alpha(reliability_data=wide, level_of_measurement=level)
                  for level in ("nominal", "ordinal", "interval", "ratio")}))
