"""Face-set curation: quality measures, pose coverage, selections (never deletions), merging sets.

``measures`` scores each face, ``pose`` estimates head pose from landmarks, ``coverage`` compares
the poses of two sets, ``report`` writes tables and pictures, ``select`` writes selection files
that ``faceplate train`` accepts, ``merge`` builds one set from several.
"""
