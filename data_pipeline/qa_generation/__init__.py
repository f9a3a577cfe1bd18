"""Step 2 (qa_generation): business themes, then question→SQL pairs per theme."""
