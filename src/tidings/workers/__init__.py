"""Workers: claim executions from the durable queue, run their actions, record the outcome."""
