"""The reference paper's layout and the published values that belong to no dabench method.

A dabench method declares its own row of the paper (``PAPER_ROW``, ``PAPER_TABLE1``, ``PAPER_ROW2``,
``PAPER_TABLE2``, ``ABLATIONS`` on its class, :mod:`dabench.method`); what stays here is the paper itself (its
citation, its task order and short names) and the rows no dabench method implements, all copied from
``shared/reference/methods.md`` §1.5 (CDLM, Hou et al., WACV 2021) and §10.
"""
from __future__ import annotations

PAPER = "CDLM (Hou, Deng, Cranefield, Ding; WACV 2021; arXiv 2012.11727)"
PAPER_SHORT = "the CDLM paper's"
#: the tables of the paper the leaderboard stands beside ours
PAPER_TABLES = "Table 1 (accuracy), Table 2 (Sketch→Face SSIM / MSE / PSNR), Tables 3–5 (CDLM ablations)"
#: what a reader must know about the paper's rows (methods.md §5.5)
PAPER_CAVEATS = "CDLM's \"CDAN\" row holds CDAN+E's numbers on M→U and U→M (methods.md §5.5)."

#: column order and the paper's short names (methods.md §1.5); other tasks follow alphabetically.
TASK_NAMES: dict[str, str] = {
    "mnist-usps": "M→U", "usps-mnist": "U→M", "mnist-mnistm": "M→MM", "mnistm-mnist": "MM→M",
    "fashion-fashionm": "F→FM", "fashionm-fashion": "FM→F", "linemod": "LineMod syn→real",
    "sketch-face": "Sketch→Face", "edges-shoes": "Edges→Shoes", "hed-shoes": "HED→Shoes",
}

#: CDLM Table 1 rows without a dabench implementation, accuracy as a fraction: row → task → value (what CDLM
#: quotes, partly its own reruns).
OTHER_TABLE1: dict[str, dict[str, float]] = {
    "CyCADA": {"mnist-usps": 0.956, "usps-mnist": 0.965, "mnist-mnistm": 0.921, "mnistm-mnist": 0.943,
               "fashion-fashionm": 0.874, "fashionm-fashion": 0.915, "linemod": 0.960},
    "GtA": {"mnist-usps": 0.953, "usps-mnist": 0.908, "mnist-mnistm": 0.917, "mnistm-mnist": 0.932,
            "fashion-fashionm": 0.855, "fashionm-fashion": 0.893, "linemod": 0.930},
}

#: CDLM Table 2 rows without a dabench implementation: task → row → (SSIM, MSE, PSNR in dB).
OTHER_TABLE2: dict[str, dict[str, tuple[float, float, float]]] = {
    "sketch-face": {"E-CDRD": (0.6229, 0.0207, 16.86), "StarGAN": (0.8026, 0.0142, 19.04)},
}

#: Other published accuracies (%) for context, methods.md §10 (evidence tags as there: [V] verified in the
#: source, [R] recalled from the cited paper), by dabench method. CDLM's own values are in the paper column and
#: not repeated here.
OTHER_PUBLISHED: dict[str, dict[str, str]] = {
    "source-only": {"mnist-usps": "78.9 PixelDA baselines README [V]; 82.1 TLlib LeNet [V]",
                    "usps-mnist": "74.6 TLlib [V]; 69.6 CyCADA [R]",
                    "mnist-mnistm": "63.6 PixelDA baselines README [V]; 52.25 DANN JMLR [R]",
                    "mnistm-mnist": "98.1 PixelDA baselines README [V]"},
    "dann": {"mnist-usps": "91.7 TLlib [V]; 77.1 CDAN table [R]; 85.1 PixelDA table [R]",
             "usps-mnist": "95.2 TLlib [V]; 73.0 CDAN table [R]",
             "mnist-mnistm": "76.66 DANN JMLR [R]"},
    "cdan": {"mnist-usps": "93.9 CDAN paper [R]; 96.0 TLlib [V]",
             "usps-mnist": "96.9 CDAN paper [R]; 97.7 TLlib [V]"},
    "cdan-e": {"mnist-usps": "95.6 CDAN paper [R]", "usps-mnist": "98.0 CDAN paper [R]"},
    "pixelda-lite": {"mnist-usps": "95.9 PixelDA paper [R]", "mnist-mnistm": "98.2 PixelDA paper [R]"},
    "unit-lite": {"mnist-usps": "95.97 UNIT paper [R]", "usps-mnist": "93.58 UNIT paper [R]"},
    "target-only": {"mnist-usps": "96.5 PixelDA baselines README [V]; 96.3 CyCADA [R]",
                    "mnist-mnistm": "96.4 PixelDA baselines README [V]; 95.96 DANN JMLR [R]"},
}
