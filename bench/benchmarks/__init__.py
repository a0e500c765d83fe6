"""Long-running measurement scripts whose printed output the README quotes."""
