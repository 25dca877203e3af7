"""The engine: from a validated session to a running mix graph. Building plugins, compiling the graph,
its nodes and buffers, reading stems, key and tempo (Rubber Band) and their cache. Imports the session layer
and the bottom modules.
"""
