"""execute-llm: specialists (a model plus tools on its own host), their providers and agent loop."""
