from st2reactor.sensor.base import PollingSensor


class TickSensor(PollingSensor):
    def setup(self):
        pass

    def poll(self):
        self._sensor_service.dispatch(trigger="hello_st2.tick", payload={})

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
