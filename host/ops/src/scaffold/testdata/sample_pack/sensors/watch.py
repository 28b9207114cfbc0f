from st2reactor.sensor.base import PollingSensor


class WatchSensor(PollingSensor):
    def setup(self):
        pass

    def poll(self):
        pass

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
