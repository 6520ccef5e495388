"""Storage: the local Neo4j server and (later) the Neo4j graph store."""
