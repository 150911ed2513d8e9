"""One module per verb: what ``edgefusion VERB`` does, apart from parsing its command line.

Each module holds the verb's settings dataclass, which ``cli.py`` builds from the command line,
and ``run(settings, err, out)``, which checks every input and output before any work, does the
work, and prints to ``out`` (results) and ``err`` (progress, warnings). Tests and scripts call
``run`` the same way. Helpers several verbs print with live in ``reports``; clip loading lives
in ``edgefusion.data.corpora`` and the live session in ``edgefusion.runtime.session``.
"""
