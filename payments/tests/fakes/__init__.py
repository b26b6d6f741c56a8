"""Local fakes of payment providers, served over real HTTP for the provider tests."""
