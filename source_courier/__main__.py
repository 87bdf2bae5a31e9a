from source_courier.run import run

run()
