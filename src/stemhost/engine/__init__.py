"""The engine: from a validated session to a running mix graph. Building plugins, compiling the graph,
the levels a session implies (mix.py: used by compile and by live changes), the graph's nodes and buffers,
reading stems, key and tempo (Rubber Band) and their cache. Imports the session layer and the bottom modules.
"""
