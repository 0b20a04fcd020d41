"""evsnn: event-camera datasets -> spiking networks -> Lava -> metrics, plots and reports.

Every stage is a plain function; the Snakemake workflow (Snakefile, workflow/rules) only wires them.
No module of this package imports snakemake.
"""

__version__ = "0.1.0"
