"""What `Trainer` needs beyond the stock one: schedules, optimiser groups, reports."""
