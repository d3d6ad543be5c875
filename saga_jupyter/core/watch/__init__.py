"""Watching output files: opening them safely, tailing what was appended, the directory watch.

:mod:`.files` opens a file an agent could have swapped (no link followed, no blocking);
:mod:`.tailer` reads what was appended since a byte offset; :mod:`.dirwatch` is the one
directory watch of a process (:mod:`.inotify` on Linux, :mod:`.observer` elsewhere,
:mod:`.dirpoll` for further directories without inotify); :mod:`.follower` is the kernel's one
log follower.
"""
