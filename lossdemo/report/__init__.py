"""The report: reads stored runs and writes the site's generated files (``docs/generated``).

It never imports training code: a run is read through ``lossdemo.results`` and described by
``lossdemo.run_config.RunConfig``. One module per experiment page (``compare``, ``label_noise``,
``imbalance``, ``gamma_sweep``, ``mae_anatomy``) holds that page's figures, tables and verdict
rules; the rest are shared building blocks:

* ``measures`` — numbers read off a stored run, and runs looked up by condition;
* ``stats`` — means over seeds with t-intervals, paired differences, and how they are written;
* ``style``, ``figures``, ``tables``, ``output`` — the palette, plots, Markdown cells, file writing;
* ``verdicts``, ``claims``, ``claims_pages`` — the claims checked against the data;
* ``site_files``, ``loss_shapes`` — generated files not tied to one experiment;
* ``render`` — the registry of experiment reports, which ``python -m lossdemo.reproduce`` calls.
"""
