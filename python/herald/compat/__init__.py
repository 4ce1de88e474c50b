"""The old Python tools' call shapes over Herald, so that a program written for them changes only its import
line: ``herald.compat.connect`` for pythonConnect's ``Connect``. They talk Herald (among themselves and to every
Herald node); Herald's gateways remain the way to reach old programs left unchanged."""
