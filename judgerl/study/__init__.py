"""Studies: whole experiments behind one CLI verb (``judgerl study homegrid-values``: seed 003)."""
