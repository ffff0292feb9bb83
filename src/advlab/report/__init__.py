"""Everything that shows results: tables (`tables`), figures (`figures.save_figure`, the one
place that sets matplotlib's backend), the rendered-output types (`rendered`), shared figure
makers of the dissection and universal-perturbation experiments, and the HTML report
(`html.write_report`). Importing the package imports none of them, so that the CLI starts fast.
"""
