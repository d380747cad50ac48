"""``commune-collector board``: the province's status board, for people who do not use Grafana.

``sources`` asks Prometheus and Alertmanager, ``status`` judges every inventory commune from
what they answer (``causes`` holds the bilingual phrases), ``pages`` writes the HTML,
``server`` serves it with a small cache, ``cli`` starts it.
"""
