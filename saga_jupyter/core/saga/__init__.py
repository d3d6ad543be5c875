"""What SAGA writes, read as SAGA reads it: session names, messages, transcripts, projects.

``project`` and its helpers read a project's ``.saga/`` directory (epics, stories, tasks,
journals); ``catalog`` holds the projects a process knows.
"""
