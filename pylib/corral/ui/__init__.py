"""`corral ui`: a local web app that composes a model group over the library's own verdicts.

Every verdict it shows comes from `corral.check`, `corral.size`, `corral.fit` and `corral.diff`;
the app only turns a form into values and those functions' answers into a page.
"""
