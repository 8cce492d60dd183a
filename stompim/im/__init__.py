"""The IM domain: accounts, friends, groups, chat, notifications. Transport-free."""
