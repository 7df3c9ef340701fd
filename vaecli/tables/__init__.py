"""Every Rich table vaecli prints, and the one way it formats numbers for the screen.

    cells.py        format_number, make_table (the plain table the sweep tables use)
    measures.py     likelihood_table, plausibility_table, density_table (vae evaluate), statistics_table
                    (vae latent-stats)
    comparison.py   compare_table, group_test_table (vae compare, vae sweep)
    factors.py      factor_table, response_table (vae factors, vae assay)

Files keep full precision; only the screen rounds.
"""

from vaecli.tables.cells import format_number, make_table
from vaecli.tables.comparison import compare_table, group_test_table
from vaecli.tables.factors import factor_table, response_table
from vaecli.tables.measures import (
    decoder_label,
    density_table,
    likelihood_table,
    plausibility_table,
    statistics_table,
)

__all__ = [
    "compare_table",
    "decoder_label",
    "density_table",
    "factor_table",
    "format_number",
    "group_test_table",
    "likelihood_table",
    "make_table",
    "plausibility_table",
    "response_table",
    "statistics_table",
]
