#!/bin/bash
docker run -d ${IMAGE}
