"""Services: the operations buyersync performs, built on sources, rules and the store."""
