from st2common.runners.base_action import Action


class GreetAction(Action):
    def run(self, greeting):
        return "Hello, %s!" % greeting
