"""Package layer: expand, model, inventory, plan and stage Windows update packages."""
