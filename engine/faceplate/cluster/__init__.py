"""Shots and face sets beyond one machine: Ray workers for ``faceplate render --cluster`` and
``faceplate extract --cluster`` (extra ``faceplate[cluster]``), and job descriptions for render farms
(``faceplate farm-job``). Ray is imported lazily, only by the functions that need it."""
